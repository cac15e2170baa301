/** Tensor creation and operations: validate arguments once, then call the current backend. */
import { getBackend } from './backend/registry.js';
import { DTypeError, ShapeError, ValueError, describe } from './errors.js';
import { Tensor, type DType, type Shape } from './tensor.js';

type NestedNumbers = number | readonly NestedNumbers[];

function assertTensor(op: string, name: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor, got ${describe(value)}`);
  void value.storage; // throws DisposedError if freed
  if (value.dtype !== 'float32') throw new DTypeError(`${op}: ${name} must be float32, got ${value.dtype}`);
}

function assertFinite(op: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValueError(`${op}: ${name} must be a finite number, got ${describe(value)}`);
  }
}

function checkShape(op: string, shape: unknown): Shape {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape;
}

const sizeOf = (shape: Shape) => shape.reduce((a, b) => a * b, 1);

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

/** A float32 tensor from a flat array (with `shape`) or nested arrays (shape inferred). */
export function tensor(values: Float32Array | NestedNumbers, shape?: Shape, dtype: DType = 'float32'): Tensor {
  if (dtype !== 'float32') throw new DTypeError(`tensor(): dtype must be 'float32', got '${dtype}'`);
  let flat: Float32Array;
  let inferred: Shape;
  if (values instanceof Float32Array) {
    flat = values;
    inferred = [values.length];
  } else if (ArrayBuffer.isView(values)) {
    throw new DTypeError(`tensor(): values must be a Float32Array or numbers, got ${describe(values)}`);
  } else {
    const { shape: s, out } = flatten('tensor()', typeof values === 'number' ? [values] : values);
    if (!out.every((v) => typeof v === 'number')) {
      throw new DTypeError(`tensor(): values must be numbers, got ${describe(out.find((v) => typeof v !== 'number'))}`);
    }
    flat = Float32Array.from(out);
    inferred = typeof values === 'number' ? [] : s;
  }
  const finalShape = shape === undefined ? inferred : checkShape('tensor()', shape);
  if (sizeOf(finalShape) !== flat.length) {
    throw new ShapeError(`tensor(): shape [${finalShape}] needs ${sizeOf(finalShape)} values, got ${flat.length}`);
  }
  const backend = getBackend();
  const storage = backend.allocate(flat.length);
  backend.write(storage, flat);
  return new Tensor(backend, storage, finalShape);
}

export function zeros(shape: Shape): Tensor {
  const s = checkShape('zeros()', shape);
  const backend = getBackend();
  return new Tensor(backend, backend.allocate(sizeOf(s)), s);
}

export interface GemmOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  alpha?: number;
  beta?: number;
  /** Added as beta·C; must have shape [m, n]. Not modified: the result is a new tensor. */
  c?: Tensor;
}

/** alpha·op(A)·op(B) + beta·C for 2-D tensors, as a new tensor of shape [m, n]. */
export function gemm(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  return checkedGemm('gemm()', a, b, options);
}

function checkedGemm(op: string, a: Tensor, b: Tensor, options: GemmOptions): Tensor {
  const { transposeA = false, transposeB = false, alpha = 1, beta = 0, c } = options;
  assertTensor(op, 'a', a);
  assertTensor(op, 'b', b);
  assertFinite(op, 'alpha', alpha);
  assertFinite(op, 'beta', beta);
  if (a.rank !== 2) throw new ShapeError(`${op}: a must be 2-D, got shape [${a.shape}]`);
  if (b.rank !== 2) throw new ShapeError(`${op}: b must be 2-D, got shape [${b.shape}]`);
  if (a.backend !== b.backend) throw new ValueError(`${op}: a and b live on different backends`);
  const [m, k] = transposeA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transposeB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (k !== kb) {
    throw new ShapeError(
      `${op}: inner dimensions differ: a${transposeA ? 'ᵀ' : ''} is [${m},${k}], b${transposeB ? 'ᵀ' : ''} is [${kb},${n}]`,
    );
  }
  const backend = a.backend;
  const out = backend.allocate(m * n);
  if (c !== undefined) {
    assertTensor(op, 'c', c);
    if (c.rank !== 2 || c.shape[0] !== m || c.shape[1] !== n) {
      backend.free(out);
      throw new ShapeError(`${op}: c must have shape [${m},${n}], got [${c.shape}]`);
    }
    if (beta !== 0) backend.copy(c.storage, out);
  }
  backend.gemm({ transA: transposeA, transB: transposeB, m, n, k, alpha, a: a.storage, b: b.storage, beta: c ? beta : 0, c: out });
  return new Tensor(backend, out, [m, n]);
}

/** Matrix product of 2-D tensors: [m,k]·[k,n] → [m,n], with optional transposes. */
export function matMul(a: Tensor, b: Tensor, options: { transposeA?: boolean; transposeB?: boolean } = {}): Tensor {
  return checkedGemm('matMul()', a, b, { transposeA: options.transposeA, transposeB: options.transposeB });
}
