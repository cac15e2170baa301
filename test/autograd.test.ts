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

  it('binary ops compute the gradient of only the operands that need one', () => {
    const backend = getBackend() as unknown as Record<string, unknown>;
    const originals = new Map<string, (...args: unknown[]) => unknown>();
    let calls = 0;
    for (const name of ['binary', 'unary', 'affine', 'sumRows', 'sumCols', 'copy']) {
      const method = (backend[name] as (...args: unknown[]) => unknown).bind(backend);
      originals.set(name, method);
      backend[name] = (...args: unknown[]) => {
        calls++;
        return method(...args);
      };
    }
    const callsOf = (f: () => kiln.Tensor[]) => {
      calls = 0;
      const grads = f();
      return { calls, values: grads.map((g) => Array.from(g.dataSync())) };
    };
    try {
      const a = kiln.tensor(randomValues(12, 8), [3, 4]);
      const b = kiln.tensor(randomValues(4, 9).map((v) => v + 2), [4]); // broadcast over a's rows; kept away from 0 for div
      const ops = { add: kiln.add, sub: kiln.sub, mul: kiln.mul, div: kiln.div };
      for (const [name, op] of Object.entries(ops)) {
        const loss = () => kiln.sum(kiln.square(op(a, b)));
        const both = callsOf(() => kiln.grad(loss, [a, b]));
        const onlyA = callsOf(() => kiln.grad(loss, [a]));
        expect(onlyA.calls, `${name}: a only`).toBeLessThan(both.calls);
        expect(onlyA.values[0], name).toEqual(both.values[0]);
        if (name === 'mul' || name === 'div') {
          const onlyB = callsOf(() => kiln.grad(loss, [b]));
          expect(onlyB.calls, `${name}: b only`).toBeLessThan(both.calls);
          expect(onlyB.values[0], name).toEqual(both.values[1]);
        }
      }
    } finally {
      for (const [name, method] of originals) backend[name] = method;
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
