/** Reshaping, concatenation and padding: copies into a new layout, each gradient copying back. */
import { record } from '../autograd/tape.js';
import type { Blocks } from '../backend/backend.js';
import { ShapeError, ValueError, describe } from '../errors.js';
import type { Shape, Tensor } from '../tensor.js';
import { allocateTensor, assertRank, assertTensor, checkShape, sameBackend, sizeOf } from './validate.js';

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

/** Concatenation along `axis` (default the last): every other dimension must agree. */
export function concat(tensors: Tensor[], axis = -1): Tensor {
  const op = 'concat()';
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ValueError(`${op}: tensors must be a non-empty array, got ${describe(tensors)}`);
  tensors.forEach((t, i) => assertTensor(op, `tensors[${i}]`, t));
  const backend = sameBackend(op, ...tensors);
  const first = tensors[0];
  const at = axis < 0 ? first.rank + axis : axis;
  if (!Number.isInteger(at) || at < 0 || at >= first.rank) throw new ValueError(`${op}: axis must be in [-${first.rank}, ${first.rank}), got ${describe(axis)}`);
  tensors.forEach((t, i) => {
    if (t.rank !== first.rank || t.shape.some((d, j) => j !== at && d !== first.shape[j])) {
      throw new ShapeError(`${op}: tensors[${i}] of shape [${t.shape}] does not match tensors[0] of shape [${first.shape}] except along axis ${at}`);
    }
  });
  const outer = sizeOf(first.shape.slice(0, at));
  const inner = sizeOf(first.shape.slice(at + 1));
  const widths = tensors.map((t) => t.shape[at] * inner);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = allocateTensor(backend, first.shape.map((d, j) => (j === at ? total / inner : d)));
  const offsets = widths.map((_, i) => widths.slice(0, i).reduce((a, b) => a + b, 0));
  tensors.forEach((t, i) => {
    backend.copyBlocks(outer, 1, widths[i], t.storage, rows(0, widths[i]), out.storage, rows(offsets[i], total));
  });
  return record(out, tensors, (dy, needed) =>
    tensors.map((t, i) => {
      if (!needed[i]) return null;
      const dx = allocateTensor(backend, t.shape);
      backend.copyBlocks(outer, 1, widths[i], dy.storage, rows(offsets[i], total), dx.storage, rows(0, widths[i]));
      return dx;
    }),
  );
}

/** Rows of `stride` values starting at `offset`. */
const rows = (offset: number, stride: number): Blocks => ({ offset, outerStride: stride, innerStride: 0 });

/** Zero padding of NHWC images: [top, bottom] rows and [left, right] columns. */
export function pad2d(x: Tensor, padding: readonly [readonly [number, number], readonly [number, number]]): Tensor {
  const op = 'pad2d()';
  assertTensor(op, 'x', x);
  assertRank(op, 'x', x, 4);
  const flat = padding?.flat?.();
  if (flat?.length !== 4 || !flat.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new ValueError(`${op}: padding must be [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(padding)}`);
  }
  const [[top, bottom], [left, right]] = padding;
  const [n, h, w, c] = x.shape;
  const [outH, outW] = [h + top + bottom, w + left + right];
  const y = allocateTensor(x.backend, [n, outH, outW, c]);
  x.backend.fill(y.storage, 0);
  // One block per input row of w·c values: images (outer) × rows (inner).
  const inside: Blocks = { offset: (top * outW + left) * c, outerStride: outH * outW * c, innerStride: outW * c };
  const packed: Blocks = { offset: 0, outerStride: h * w * c, innerStride: w * c };
  x.backend.copyBlocks(n, h, w * c, x.storage, packed, y.storage, inside);
  return record(y, [x], (dy) => {
    const dx = allocateTensor(dy.backend, x.shape);
    dy.backend.copyBlocks(n, h, w * c, dy.storage, inside, dx.storage, packed);
    return [dx];
  });
}
