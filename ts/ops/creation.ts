/** Making tensors from values. */
import { getBackend } from '../backend/registry.js';
import { DTypeError, ShapeError, describe } from '../errors.js';
import type { DType, Shape, Tensor } from '../tensor.js';
import { allocateTensor, checkShape, filledTensor, float32Divisor, sizeOf } from './validate.js';

type NestedNumbers = number | readonly NestedNumbers[];

function flatten(op: string, values: NestedNumbers, shape: number[] = [], depth = 0, out: number[] = []) {
  if (Array.isArray(values)) {
    if (shape.length === depth) shape.push(values.length);
    else if (shape[depth] !== values.length) {
      throw new ShapeError(`${op}: ragged nested array: expected ${shape[depth]} items at depth ${depth}, got ${values.length}`);
    }
    for (const v of values) flatten(op, v, shape, depth + 1, out);
  } else {
    if (depth !== shape.length) throw new ShapeError(`${op}: ragged nested array at depth ${depth}`);
    out.push(values as number);
  }
  return { shape, out };
}

/**
 * A tensor from a flat typed array (with `shape`) or nested arrays (shape inferred). float32 takes a
 * Float32Array or numbers; int32 (labels, indices) takes an Int32Array or integers.
 */
export function tensor(values: Float32Array | Int32Array | NestedNumbers, shape?: Shape, dtype?: DType): Tensor {
  const op = 'tensor()';
  const kind = dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
  if (kind !== 'float32' && kind !== 'int32') throw new DTypeError(`${op}: dtype must be 'float32' or 'int32', got '${kind}'`);
  const Typed = kind === 'int32' ? Int32Array : Float32Array;
  let flat: Float32Array | Int32Array;
  let inferred: Shape;
  if (values instanceof Typed) {
    flat = values;
    inferred = [values.length];
  } else if (ArrayBuffer.isView(values)) {
    throw new DTypeError(`${op}: values for dtype '${kind}' must be a ${Typed.name} or numbers, got ${describe(values)}`);
  } else {
    const { shape: s, out } = flatten(op, typeof values === 'number' ? [values] : values);
    const bad = out.find((v) => typeof v !== 'number' || (kind === 'int32' && !Number.isInteger(v)));
    if (bad !== undefined) throw new DTypeError(`${op}: values must be ${kind === 'int32' ? 'integers' : 'numbers'}, got ${describe(bad)}`);
    flat = Typed.from(out);
    inferred = typeof values === 'number' ? [] : s;
  }
  const finalShape = shape === undefined ? inferred : checkShape(op, shape);
  if (sizeOf(finalShape) !== flat.length) {
    throw new ShapeError(`${op}: shape [${finalShape}] needs ${sizeOf(finalShape)} values, got ${flat.length}`);
  }
  const t = allocateTensor(getBackend(), finalShape, kind);
  t.backend.write(t.storage, flat);
  return t;
}

/**
 * A float32 tensor of `bytes[i] / divisor`, converted inside the backend (in parallel on the threads build): e.g.
 * `fromBytes(pixels, [n, 32, 32, 3], 255)` for images scaled to [0, 1], with no float copy made in JavaScript.
 */
export function fromBytes(bytes: Uint8Array, shape: Shape, divisor = 1): Tensor {
  const op = 'fromBytes()';
  if (!(bytes instanceof Uint8Array)) throw new DTypeError(`${op}: bytes must be a Uint8Array, got ${describe(bytes)}`);
  const checked = checkShape(op, shape);
  if (sizeOf(checked) !== bytes.length) throw new ShapeError(`${op}: shape [${checked}] needs ${sizeOf(checked)} bytes, got ${bytes.length}`);
  const d = float32Divisor(op, 'divisor', divisor);
  const t = allocateTensor(getBackend(), checked, 'float32');
  t.backend.writeBytes(t.storage, bytes, d);
  return t;
}

export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  return filledTensor(getBackend(), checkShape('zeros()', shape), 0, dtype);
}

/** A float32 tensor with every element `value`. */
export function fill(shape: Shape, value: number): Tensor {
  return filledTensor(getBackend(), checkShape('fill()', shape), value);
}

export const ones = (shape: Shape): Tensor => fill(shape, 1);

export function scalar(value: number): Tensor {
  return fill([], value);
}
