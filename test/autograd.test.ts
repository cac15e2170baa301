import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { checkGradients, type GradCase } from './gradcheck.js';
import { randomValues } from './helpers.js';

/** Distinct values, so max-pool windows have no ties a perturbation could flip. */
const distinct = (shape: number[], i: number) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const order = Array.from(randomValues(n, 7 + i), (v, j) => ({ v, j })).sort((a, b) => a.v - b.v);
  const out = new Float32Array(n);
  order.forEach(({ j }, rank) => (out[j] = rank * 0.05)); // spacing above the 0.01 perturbation
  return out;
};
const positive = (shape: number[], i: number) => randomValues(shape.reduce((a, b) => a * b, 1), 3 + i).map((v) => 0.5 + Math.abs(v));
const awayFromZero = (shape: number[], i: number) => randomValues(shape.reduce((a, b) => a * b, 1), 5 + i).map((v) => (v < 0 ? v - 0.1 : v + 0.1));

export const GRAD_CASES: GradCase[] = [
  { name: 'matMul', shapes: [[3, 5], [5, 4]], f: (a, b) => kiln.matMul(a, b) },
  { name: 'matMul transposed', shapes: [[5, 3], [4, 5]], f: (a, b) => kiln.matMul(a, b, { transposeA: true, transposeB: true }) },
  { name: 'add with bias broadcast', shapes: [[4, 3], [3]], f: (a, b) => kiln.add(a, b) },
  { name: 'sub with scalar', shapes: [[2, 3], []], f: (a, b) => kiln.sub(a, b) },
  { name: 'mul', shapes: [[2, 3, 2], [3, 2]], f: (a, b) => kiln.mul(a, b) },
  { name: 'div', shapes: [[3, 4], [4]], f: (a, b) => kiln.div(a, b), values: positive },
  { name: 'exp, log, sqrt, square', shapes: [[7]], f: (x) => kiln.add(kiln.log(x), kiln.add(kiln.sqrt(x), kiln.square(kiln.exp(x)))), values: positive },
  { name: 'relu', shapes: [[3, 5]], f: (x) => kiln.relu(x), values: awayFromZero },
  { name: 'sigmoid and tanh', shapes: [[3, 5]], f: (x) => kiln.mul(kiln.sigmoid(x), kiln.tanh(x)) },
  { name: 'softmax', shapes: [[3, 5]], f: (x) => kiln.softmax(x) },
  { name: 'logSoftmax', shapes: [[3, 5]], f: (x) => kiln.logSoftmax(x) },
  { name: 'mean and reshape', shapes: [[2, 6]], f: (x) => kiln.mean(kiln.square(kiln.reshape(x, [3, -1]))) },
  { name: 'conv2d valid + bias', shapes: [[2, 6, 5, 3], [3, 2, 3, 4], [4]], f: (x, w, b) => kiln.conv2d(x, w, b) },
  { name: 'conv2d same, stride 2', shapes: [[1, 7, 6, 2], [3, 3, 2, 3]], f: (x, w) => kiln.conv2d(x, w, null, { padding: 'same', strides: 2 }) },
  { name: 'conv2d dilation 2', shapes: [[2, 7, 7, 2], [2, 2, 2, 3]], f: (x, w) => kiln.conv2d(x, w, null, { dilation: 2 }) },
  { name: 'maxPool2d', shapes: [[2, 6, 5, 3]], f: (x) => kiln.maxPool2d(x, { poolSize: 2 }), values: distinct },
  { name: 'maxPool2d same, 3x3 stride 2', shapes: [[1, 7, 7, 2]], f: (x) => kiln.maxPool2d(x, { poolSize: 3, strides: 2, padding: 'same' }), values: distinct },
  { name: 'avgPool2d same', shapes: [[2, 5, 5, 3]], f: (x) => kiln.avgPool2d(x, { poolSize: 2, padding: 'same' }) },
  { name: 'softmaxCrossEntropy', shapes: [[5, 4]], f: (x) => kiln.softmaxCrossEntropy(x, kiln.tensor(new Int32Array([0, 3, 1, 2, 3]))) },
  { name: 'meanSquaredError', shapes: [[3, 4], [3, 4]], f: (p, t) => kiln.meanSquaredError(p, t) },
];

describe('gradients on the reference backend match central differences', () => {
  beforeAll(async () => {
    await kiln.ready({ backend: 'reference' });
  });
  for (const c of GRAD_CASES) it(c.name, () => checkGradients(c));

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
