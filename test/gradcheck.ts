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
