// Numerical gradient checks: analytic gradients from the tape against central differences of
// L = Σ f(inputs) · R (R fixed random), on whichever backend is current.
import { expect } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { randomValues } from './helpers.js';

export interface GradCase {
  name: string;
  /** Shapes of the float inputs to differentiate. */
  shapes: number[][];
  f: (...inputs: kiln.Tensor[]) => kiln.Tensor;
  /** Input values (default: uniform in [-1, 1)). */
  values?: (shape: number[], i: number) => Float32Array;
  /** Coordinates checked per input (random subset). */
  samples?: number;
  tolerance?: number;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function checkGradients(c: GradCase, seed = 1): void {
  const inputs = c.shapes.map((shape, i) => (c.values ? c.values(shape, i) : randomValues(size(shape), seed * 31 + i)));
  const objective = (values: Float32Array[]) =>
    kiln.scope(() => {
      const ts = values.map((v, i) => kiln.tensor(v, c.shapes[i]));
      const out = c.f(...ts);
      const weights = kiln.tensor(randomValues(out.size, seed * 97), out.shape);
      return kiln.sum(kiln.mul(out, weights));
    });
  const tensors = inputs.map((v, i) => kiln.tensor(v, c.shapes[i]));
  const grads = kiln.grad(() => {
    const out = c.f(...tensors);
    return kiln.sum(kiln.mul(out, kiln.tensor(randomValues(out.size, seed * 97), out.shape)));
  }, tensors);
  const eps = 1e-2;
  inputs.forEach((values, i) => {
    const analytic = grads[i].dataSync();
    const samples = Math.min(values.length, c.samples ?? 12);
    const picks = randomValues(samples, seed * 13 + i).map((r) => Math.floor(((r + 1) / 2) * values.length));
    for (const index of picks) {
      const plus = inputs.map((v) => v.slice());
      const minus = inputs.map((v) => v.slice());
      plus[i][index] += eps;
      minus[i][index] -= eps;
      const lp = objective(plus);
      const lm = objective(minus);
      const numeric = (lp.dataSync()[0] - lm.dataSync()[0]) / (2 * eps);
      lp.dispose();
      lm.dispose();
      const scale = Math.max(1, Math.abs(numeric), Math.abs(analytic[index]));
      expect(Math.abs(analytic[index] - numeric) / scale, `${c.name}: input ${i}[${index}] analytic ${analytic[index]} numeric ${numeric}`).toBeLessThan(c.tolerance ?? 2e-2);
    }
  });
  for (const t of [...tensors, ...grads]) t.dispose();
}

/**
 * conv2d with its ReLU fused must have exactly the gradients of conv2d followed by relu (a numeric check would
 * be flaky here: some pre-activations land within the perturbation of ReLU's kink). 5 images: two tasks.
 */
export function checkFusedConvRelu(): void {
  const [x, w, b] = [[5, 6, 5, 3], [3, 2, 3, 4], [4]].map((shape, i) => kiln.tensor(randomValues(size(shape), 40 + i), shape));
  const weights = kiln.tensor(randomValues(5 * 4 * 4 * 4, 44), [5, 4, 4, 4]);
  const objective = (fused: boolean) => () =>
    kiln.sum(kiln.mul(fused ? kiln.conv2d(x, w, b, { activation: 'relu' }) : kiln.relu(kiln.conv2d(x, w, b)), weights));
  expectSameGradients(objective, [x, w, b]);
  for (const t of [x, w, b, weights]) t.dispose();
}

/** The gradients of `objective(true)` (a fused op) equal those of `objective(false)` (its composition), and are not all zero. */
function expectSameGradients(objective: (fused: boolean) => () => kiln.Tensor, inputs: kiln.Tensor[]): void {
  const fused = kiln.grad(objective(true), inputs);
  const composed = kiln.grad(objective(false), inputs);
  fused.forEach((g, i) => {
    const [got, want] = [g.dataSync(), composed[i].dataSync()];
    expect(want.some((v) => v !== 0), `input ${i} gradient is not all zero`).toBe(true);
    want.forEach((v, j) => expect(Math.abs(got[j] - v), `input ${i}[${j}]`).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))));
  });
  for (const t of [...fused, ...composed]) t.dispose();
}

/**
 * conv2d with a max pooling fused into its kernel must give exactly the values and the gradients of conv2d then
 * maxPool2d: with ReLU and 2×2 windows (the seed CNN's layers), and linear with 3×2 windows spaced 3×3 apart
 * after a strided 'same' convolution (an odd output whose last row and columns no window covers).
 */
export function checkFusedConvMaxPool(): void {
  const [x, w, b] = [[3, 9, 11, 3], [3, 3, 3, 5], [5]].map((shape, i) => kiln.tensor(randomValues(size(shape), 50 + i), shape));
  const variants: [kiln.Conv2dOptions, kiln.Pool2dOptions][] = [
    [{ activation: 'relu' }, { poolSize: 2 }],
    [{ padding: 'same', strides: [1, 2] }, { poolSize: [3, 2], strides: 3 }],
  ];
  for (const [options, pool] of variants) {
    const forward = (fused: boolean) => (fused ? kiln.conv2d(x, w, b, { ...options, maxPool: pool }) : kiln.maxPool2d(kiln.conv2d(x, w, b, options), pool));
    const [fusedOut, composedOut] = [forward(true), forward(false)];
    expect(fusedOut.shape).toEqual(composedOut.shape);
    expect(Array.from(fusedOut.dataSync())).toEqual(Array.from(composedOut.dataSync()));
    const weights = kiln.tensor(randomValues(composedOut.size, 55), composedOut.shape);
    const objective = (fused: boolean) => () => kiln.sum(kiln.mul(forward(fused), weights));
    expectSameGradients(objective, [x, w, b]);
    for (const t of [fusedOut, composedOut, weights]) t.dispose();
  }
  for (const t of [x, w, b]) t.dispose();
}

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

/** One case per differentiable op (odd shapes), run on every backend. */
export const GRAD_CASES: GradCase[] = [
  { name: 'matMul', shapes: [[3, 5], [5, 4]], f: (a, b) => kiln.matMul(a, b) },
  { name: 'matMul transposed', shapes: [[5, 3], [4, 5]], f: (a, b) => kiln.matMul(a, b, { transposeA: true, transposeB: true }) },
  { name: 'add with bias broadcast', shapes: [[4, 3], [3]], f: (a, b) => kiln.add(a, b) },
  { name: 'sub with scalar', shapes: [[2, 3], []], f: (a, b) => kiln.sub(a, b) },
  { name: 'mul', shapes: [[2, 3, 2], [3, 2]], f: (a, b) => kiln.mul(a, b) },
  { name: 'div', shapes: [[3, 4], [4]], f: (a, b) => kiln.div(a, b), values: positive },
  { name: 'exp, log, sqrt, square', shapes: [[7]], f: (x) => kiln.add(kiln.log(x), kiln.add(kiln.sqrt(x), kiln.square(kiln.exp(x)))), values: positive },
  { name: 'relu', shapes: [[3, 5]], f: (x) => kiln.relu(x), values: awayFromZero },
  { name: 'dropout (fixed seed)', shapes: [[7, 5]], f: (x) => kiln.dropout(x, 0.3, 123) },
  { name: 'leakyRelu', shapes: [[3, 5]], f: (x) => kiln.leakyRelu(x, 0.2), values: awayFromZero },
  { name: 'concat along the last axis', shapes: [[2, 3, 2], [2, 3, 5], [2, 3, 1]], f: (a, b, c) => kiln.concat([a, b, c]) },
  { name: 'concat along axis 1', shapes: [[2, 1, 3], [2, 4, 3]], f: (a, b) => kiln.concat([a, b], 1) },
  { name: 'pad2d', shapes: [[2, 3, 4, 3]], f: (x) => kiln.pad2d(x, [[1, 2], [0, 3]]) },
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
  {
    name: 'batchNorm (training)',
    shapes: [[2, 3, 3, 4], [4], [4]],
    f: (x, gamma, beta) => kiln.batchNorm(x, gamma, beta, { movingMean: kiln.zeros([4]), movingVariance: kiln.ones([4]), momentum: 0.9, epsilon: 1e-3 }, true),
  },
  { name: 'softmaxCrossEntropy', shapes: [[5, 4]], f: (x) => kiln.softmaxCrossEntropy(x, kiln.tensor(new Int32Array([0, 3, 1, 2, 3]))) },
  {
    name: 'binaryCrossEntropy from probabilities',
    shapes: [[3, 4]],
    f: (p) => kiln.binaryCrossEntropy(p, kiln.tensor(randomValues(12, 18).map((v) => (v > 0 ? 1 : 0)), [3, 4])),
    values: (shape) => randomValues(shape[0] * shape[1], 17).map((v) => 0.5 + 0.4 * v),
  },
  {
    name: 'binaryCrossEntropy from logits',
    shapes: [[5, 2]],
    f: (x) => kiln.binaryCrossEntropy(x, kiln.tensor(randomValues(10, 19).map((v) => (v > 0 ? 1 : 0)), [5, 2]), { fromLogits: true }),
  },
  { name: 'meanSquaredError', shapes: [[3, 4], [3, 4]], f: (p, t) => kiln.meanSquaredError(p, t) },
];

