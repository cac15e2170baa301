/** Elementwise ops, activations and softmax, each with its gradient rule beside it. */
import type { ActivationGradOp, BinaryOp, UnaryOp } from '../backend/backend.js';
import { record, willRecord } from '../autograd/tape.js';
import { ShapeError, ValueError, describe } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { allocateTensor, assertFinite, assertTensor, filledTensor, sameBackend } from './validate.js';

function unary(op: UnaryOp, x: Tensor, name: string): Tensor {
  assertTensor(`${name}()`, 'x', x);
  const out = allocateTensor(x.backend, x.shape);
  x.backend.unary(op, x.storage, out.storage);
  return out;
}

function activation(op: ActivationGradOp, x: Tensor): Tensor {
  const y = unary(op, x, op);
  return record(y, [x], (dy) => {
    const dx = allocateTensor(dy.backend, dy.shape);
    dy.backend.activationGrad(op, y.storage, dy.storage, dx.storage);
    return [dx];
  });
}

export const relu = (x: Tensor) => activation('relu', x);
export const sigmoid = (x: Tensor) => activation('sigmoid', x);
export const tanh = (x: Tensor) => activation('tanh', x);

/** x where positive, alpha·x elsewhere (alpha ≥ 0; Keras' default 0.3). */
export function leakyRelu(x: Tensor, alpha = 0.3): Tensor {
  const op = 'leakyRelu()';
  assertTensor(op, 'x', x);
  if (typeof alpha !== 'number' || !(alpha >= 0 && Number.isFinite(alpha))) throw new ValueError(`${op}: alpha must be a finite number ≥ 0, got ${describe(alpha)}`);
  const y = allocateTensor(x.backend, x.shape);
  x.backend.leakyRelu(x.storage, alpha, y.storage);
  return record(y, [x], (dy) => {
    const dx = allocateTensor(dy.backend, dy.shape);
    dy.backend.leakyReluGrad(y.storage, alpha, dy.storage, dx.storage);
    return [dx];
  });
}

export function neg(x: Tensor): Tensor {
  return record(unary('neg', x, 'neg'), [x], (dy) => [neg(dy)]);
}

export function exp(x: Tensor): Tensor {
  const y = unary('exp', x, 'exp');
  return record(y, [x], (dy) => [mul(dy, y)]);
}

export function log(x: Tensor): Tensor {
  return record(unary('log', x, 'log'), [x], (dy) => [div(dy, x)]);
}

export function sqrt(x: Tensor): Tensor {
  const y = unary('sqrt', x, 'sqrt');
  return record(y, [x], (dy) => [mulScalar(div(dy, y), 0.5)]);
}

export function square(x: Tensor): Tensor {
  return record(unary('square', x, 'square'), [x], (dy) => [mulScalar(mul(dy, x), 2)]);
}

/** alpha·x + beta. */
function affine(x: Tensor, alpha: number, beta: number, op: string): Tensor {
  assertTensor(op, 'x', x);
  assertFinite(op, 'scalar', op === 'addScalar()' ? beta : alpha);
  const out = allocateTensor(x.backend, x.shape);
  x.backend.affine(x.storage, alpha, beta, out.storage);
  return record(out, [x], (dy) => [alpha === 1 ? dy : mulScalar(dy, alpha)]);
}

export const mulScalar = (x: Tensor, s: number) => affine(x, s, 0, 'mulScalar()');
export const addScalar = (x: Tensor, s: number) => affine(x, 1, s, 'addScalar()');

/** b broadcasts to a when it is a single value or its shape equals a's trailing dimensions (a bias). */
function broadcasts(a: Tensor, b: Tensor): boolean {
  return b.size === 1 || (b.rank <= a.rank && b.shape.every((d, i) => d === a.shape[a.rank - b.rank + i]));
}

/** Sums `dy` (a's shape) down to the shape of `b` it was broadcast from. */
function reduceTo(dy: Tensor, b: Tensor): Tensor {
  if (dy.size === b.size) return dy;
  const out = allocateTensor(dy.backend, b.shape);
  dy.backend.sumRows(dy.storage, dy.size / b.size, b.size, out.storage);
  return out;
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const name = `${op}()`;
  assertTensor(name, 'a', a);
  assertTensor(name, 'b', b);
  const backend = sameBackend(name, a, b);
  if (!broadcasts(a, b)) throw new ShapeError(`${name}: b of shape [${b.shape}] does not broadcast to a of shape [${a.shape}]`);
  const out = allocateTensor(backend, a.shape);
  backend.binary(op, a.storage, b.storage, out.storage);
  return out;
}

/** True when a must broadcast to b instead (a is the smaller operand). */
const smallerFirst = (a: Tensor, b: Tensor) => a.size < b.size;

// Binary ops' gradients skip the operands that need none (a constant, a teacher's outputs).
export function add(a: Tensor, b: Tensor): Tensor {
  if (smallerFirst(a, b)) return add(b, a);
  return record(binary('add', a, b), [a, b], (dy, [, needB]) => [dy, needB ? reduceTo(dy, b) : null]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  if (smallerFirst(a, b)) return add(neg(b), a);
  return record(binary('sub', a, b), [a, b], (dy, [, needB]) => [dy, needB ? neg(reduceTo(dy, b)) : null]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  if (smallerFirst(a, b)) return mul(b, a);
  return record(binary('mul', a, b), [a, b], (dy, [needA, needB]) => [needA ? mul(dy, b) : null, needB ? reduceTo(mul(dy, a), b) : null]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  if (smallerFirst(a, b)) throw new ShapeError(`div(): the divisor b of shape [${b.shape}] must broadcast to a of shape [${a.shape}]`);
  const out = binary('div', a, b);
  return record(out, [a, b], (dy, [needA, needB]) => [needA ? div(dy, b) : null, needB ? neg(reduceTo(div(mul(dy, out), b), b)) : null]);
}

/** Rows × cols view of a tensor whose last axis is `cols`. */
const rowsOf = (t: Tensor) => ({ cols: t.shape[t.rank - 1] ?? 1, rows: t.size / (t.shape[t.rank - 1] ?? 1) });

/** Σ over the last axis, broadcast back along it: out[r, c] = Σ_j x[r, j]. */
function rowSumsBroadcast(x: Tensor): Tensor {
  const { rows, cols } = rowsOf(x);
  const sums = allocateTensor(x.backend, [rows]);
  x.backend.sumCols(x.storage, rows, cols, sums.storage);
  const out = allocateTensor(x.backend, x.shape);
  const ones = filledTensor(x.backend, [cols], 1);
  x.backend.gemm({ transA: false, transB: false, m: rows, n: cols, k: 1, alpha: 1, a: sums.storage, b: ones.storage, beta: 0, c: out.storage });
  return out;
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  assertTensor('softmax()', 'x', x);
  if (x.rank === 0) throw new ShapeError('softmax(): x must have at least one axis, got a scalar');
  const { rows, cols } = rowsOf(x);
  const y = allocateTensor(x.backend, x.shape);
  x.backend.softmaxRows(x.storage, rows, cols, y.storage);
  return record(y, [x], (dy) => [mul(y, sub(dy, rowSumsBroadcast(mul(dy, y))))]);
}

/** log(softmax(x)) over the last axis, computed stably (x − max − log Σ exp(x − max)). */
export function logSoftmax(x: Tensor): Tensor {
  assertTensor('logSoftmax()', 'x', x);
  if (x.rank === 0) throw new ShapeError('logSoftmax(): x must have at least one axis, got a scalar');
  const { rows, cols } = rowsOf(x);
  const y = allocateTensor(x.backend, x.shape);
  x.backend.logSoftmaxRows(x.storage, rows, cols, y.storage);
  return record(y, [x], (dy) => [sub(dy, mul(exp(y), rowSumsBroadcast(dy)))]);
}

/**
 * Inverted dropout: each element is zeroed with probability `rate`, the rest scaled by 1/(1−rate). The mask is
 * drawn from `seed` (a u32) and the element's position, so the same seed gives the same mask on every backend.
 */
export function dropout(x: Tensor, rate: number, seed: number): Tensor {
  const op = 'dropout()';
  assertTensor(op, 'x', x);
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new ValueError(`${op}: rate must be in [0, 1), got ${describe(rate)}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new ValueError(`${op}: seed must be an integer in [0, 2^32), got ${describe(seed)}`);
  const y = allocateTensor(x.backend, x.shape);
  const mask = allocateTensor(x.backend, x.shape);
  x.backend.dropout(x.storage, rate, seed, y.storage, mask.storage);
  if (!willRecord([x])) {
    mask.dispose();
    return y;
  }
  return record(y, [x], (dy) => [mul(dy, mask)]);
}
