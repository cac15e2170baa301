/** Argument checks shared by the ops: each names the op, the argument, what was expected and what came. */
import { DTypeError, OutOfMemoryError, ShapeError, ValueError, describe } from '../errors.js';
import { Tensor, type DType, type Shape } from '../tensor.js';
import type { Backend } from '../backend/backend.js';

export function assertTensor(op: string, name: string, value: unknown, dtype: DType = 'float32'): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor, got ${describe(value)}`);
  void value.storage; // throws DisposedError if freed
  if (value.dtype !== dtype) throw new DTypeError(`${op}: ${name} must be ${dtype}, got ${value.dtype}`);
}

export function assertFinite(op: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValueError(`${op}: ${name} must be a finite number, got ${describe(value)}`);
  }
}

/** A divisor for a float32 division: `value` as a float32, which must be finite and nonzero (1e-50 is not). */
export function float32Divisor(op: string, name: string, value: unknown): number {
  const divisor = typeof value === 'number' ? Math.fround(value) : NaN;
  if (!Number.isFinite(divisor) || divisor === 0) throw new ValueError(`${op}: ${name} must be a finite nonzero float32, got ${describe(value)}`);
  return divisor;
}

export function assertPositiveInt(op: string, name: string, value: unknown): asserts value is number {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new ValueError(`${op}: ${name} must be a positive integer, got ${describe(value)}`);
  }
}

export function assertRank(op: string, name: string, t: Tensor, rank: number): void {
  if (t.rank !== rank) throw new ShapeError(`${op}: ${name} must be ${rank}-D, got shape [${t.shape}]`);
}

export function checkShape(op: string, shape: unknown): Shape {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape;
}

export const sizeOf = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

export function sameBackend(op: string, ...tensors: Tensor[]): Backend {
  const backend = tensors[0].backend;
  if (tensors.some((t) => t.backend !== backend)) throw new ValueError(`${op}: tensors live on different backends`);
  return backend;
}

/** A new tensor on `backend` with unspecified contents, for an op's kernel to overwrite. */
export function allocateTensor(backend: Backend, shape: Shape, dtype: DType = 'float32'): Tensor {
  let storage;
  try {
    storage = backend.allocate(sizeOf(shape), dtype);
  } catch (error) {
    if (error instanceof OutOfMemoryError) throw new OutOfMemoryError(`cannot allocate a ${dtype} tensor of shape [${shape}]: ${error.message}`);
    throw error;
  }
  return new Tensor(backend, storage, shape);
}

/** A new tensor on `backend` with every element `value` (0 is also int32 zero). */
export function filledTensor(backend: Backend, shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  const t = allocateTensor(backend, shape, dtype);
  backend.fill(t.storage, value);
  return t;
}
