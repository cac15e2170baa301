import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { getBackend } from '../ts/backend/registry.js';
import { GRAD_CASES, checkFusedConvMaxPool, checkFusedConvRelu, checkGradients } from './gradcheck.js';
import { randomValues } from './helpers.js';

describe('gradients on the reference backend match central differences', () => {
  beforeAll(async () => {
    await kiln.ready({ backend: 'reference' });
  });
  for (const c of GRAD_CASES) it(c.name, () => checkGradients(c));
  it('conv2d with fused ReLU has the gradients of conv2d then relu', checkFusedConvRelu);
  it('conv2d with a fused max pooling has the values and gradients of conv2d then maxPool2d', checkFusedConvMaxPool);

  it('a custom loss mixing two terms (distillation-style) gets gradients without backward code', () => {
    const w = kiln.tensor(randomValues(6 * 4, 1), [6, 4]);
    const x = kiln.tensor(randomValues(3 * 6, 2), [3, 6]);
    const teacher = kiln.softmax(kiln.mulScalar(kiln.tensor(randomValues(3 * 4, 3), [3, 4]), 0.5));
    const labels = kiln.tensor(new Int32Array([1, 0, 3]));
    const distill = () => {
      const logits = kiln.matMul(x, w);
      const soft = kiln.mulScalar(kiln.sum(kiln.mul(teacher, kiln.logSoftmax(kiln.mulScalar(logits, 0.5)))), -1 / 3);
      return kiln.add(kiln.mulScalar(kiln.softmaxCrossEntropy(logits, labels), 0.3), kiln.mulScalar(soft, 0.7));
    };
    const { loss, grads } = kiln.valueAndGrads(() => ({ loss: distill() }), [w]);
    expect(loss.shape).toEqual([]);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    expect(grads[0].shape).toEqual([6, 4]);
    expect(Math.max(...grads[0].dataSync().map(Math.abs))).toBeGreaterThan(1e-4);
  });

  it('matMul computes the gradient of only the inputs that need one', () => {
    const backend = getBackend();
    const gemm = backend.gemm.bind(backend);
    let products = 0;
    backend.gemm = (args) => {
      products++;
      gemm(args);
    };
    try {
      for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
        const x = kiln.tensor(randomValues(15, 6), transposeA ? [5, 3] : [3, 5]);
        const w = kiln.tensor(randomValues(20, 7), transposeB ? [4, 5] : [5, 4]);
        const loss = () => kiln.sum(kiln.square(kiln.matMul(x, w, { transposeA, transposeB })));
        products = 0;
        const both = kiln.grad(loss, [x, w]);
        expect(products).toBe(3);
        products = 0;
        const [onlyW] = kiln.grad(loss, [w]);
        expect(products).toBe(2);
        expect(Array.from(onlyW.dataSync())).toEqual(Array.from(both[1].dataSync()));
        for (const t of [x, w, onlyW, ...both]) t.dispose();
      }
    } finally {
      backend.gemm = gemm;
    }
  });

  it('frees every intermediate: only the loss and the gradients survive', () => {
    const w = kiln.tensor(randomValues(12, 4), [3, 4]);
    const x = kiln.tensor(randomValues(6, 5), [2, 3]);
    const before = kiln.memory().liveBytes;
    for (let i = 0; i < 50; i++) {
      const { loss, grads } = kiln.valueAndGrads(() => ({ loss: kiln.mean(kiln.square(kiln.relu(kiln.matMul(x, w)))) }), [w]);
      loss.dispose();
      grads.forEach((g) => g.dispose());
    }
    expect(kiln.memory().liveBytes).toBe(before);
  });
});
