/** Reductions to a scalar. */
import { record } from '../autograd/tape.js';
import type { Tensor } from '../tensor.js';
import { mul, mulScalar } from './elementwise.js';
import { allocateTensor, assertTensor, filledTensor } from './validate.js';

/** Σ of all elements, as a scalar tensor. */
export function sum(x: Tensor): Tensor {
  assertTensor('sum()', 'x', x);
  const out = allocateTensor(x.backend, []);
  x.backend.sumCols(x.storage, 1, x.size, out.storage);
  return record(out, [x], (dy) => {
    return [mul(filledTensor(x.backend, x.shape, 1), dy)];
  });
}

/** Mean of all elements, as a scalar tensor. */
export function mean(x: Tensor): Tensor {
  return mulScalar(sum(x), 1 / Math.max(1, x.size));
}
