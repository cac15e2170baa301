/** Reshaping (a copy into the new shape; the gradient reshapes back). */
import { record } from '../autograd/tape.js';
import { ShapeError } from '../errors.js';
import type { Shape, Tensor } from '../tensor.js';
import { allocateTensor, checkShape, sizeOf } from './validate.js';

/** x with a new shape of the same size; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length === 1 ? x.size / Math.max(1, sizeOf(known)) : null;
  const target = checkShape('reshape()', inferred === null ? shape : shape.map((d) => (d === -1 ? inferred : d)));
  if (sizeOf(target) !== x.size) {
    throw new ShapeError(`reshape(): cannot reshape [${x.shape}] (${x.size} elements) into [${shape}]`);
  }
  const out = allocateTensor(x.backend, target, x.dtype);
  x.backend.copy(x.storage, out.storage);
  return record(out, [x], (dy) => [reshape(dy, x.shape)]);
}
