/** Reductions to a scalar. */
import { record } from '../autograd/tape.js';
import type { Tensor } from '../tensor.js';
import { mul, mulScalar } from './elementwise.js';
import { allocateTensor, assertTensor, filledTensor, sameBackend } from './validate.js';

/** Σ of all elements, as a scalar tensor. */
export function sum(x: Tensor): Tensor {
  assertTensor('sum()', 'x', x);
  const out = allocateTensor(x.backend, []);
  x.backend.sumCols(x.storage, 1, x.size, out.storage);
  return record(out, [x], (dy) => {
    return [mul(filledTensor(x.backend, x.shape, 1), dy)];
  });
}

/** How many values of `tensors` together are NaN or infinite, as a scalar (no gradient). */
export function countNonFinite(tensors: Tensor[]): Tensor {
  tensors.forEach((t, i) => assertTensor('countNonFinite()', `tensors[${i}]`, t));
  const backend = sameBackend('countNonFinite()', ...tensors);
  const out = allocateTensor(backend, []);
  backend.countNonFinite(tensors.map((t) => t.storage), out.storage);
  return out;
}

/** Mean of all elements, as a scalar tensor. */
export function mean(x: Tensor): Tensor {
  return mulScalar(sum(x), 1 / Math.max(1, x.size));
}
