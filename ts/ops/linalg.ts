/** Matrix products, with their gradients. */
import { record } from '../autograd/tape.js';
import { ShapeError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { allocateTensor, assertFinite, assertRank, assertTensor, sameBackend } from './validate.js';

export interface GemmOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  alpha?: number;
  beta?: number;
  /** Added as beta·C; must have shape [m, n]. Not modified: the result is a new tensor. */
  c?: Tensor;
}

/** alpha·op(A)·op(B) + beta·C for 2-D tensors, as a new tensor of shape [m, n] (no gradient). */
export function gemm(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  return checkedGemm('gemm()', a, b, options);
}

function checkedGemm(op: string, a: Tensor, b: Tensor, options: GemmOptions): Tensor {
  const { transposeA = false, transposeB = false, alpha = 1, beta = 0, c } = options;
  assertTensor(op, 'a', a);
  assertTensor(op, 'b', b);
  assertFinite(op, 'alpha', alpha);
  assertFinite(op, 'beta', beta);
  assertRank(op, 'a', a, 2);
  assertRank(op, 'b', b, 2);
  const backend = sameBackend(op, a, b);
  const [m, k] = transposeA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transposeB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (k !== kb) {
    throw new ShapeError(
      `${op}: inner dimensions differ: a${transposeA ? 'ᵀ' : ''} is [${m},${k}], b${transposeB ? 'ᵀ' : ''} is [${kb},${n}]`,
    );
  }
  if (c !== undefined) {
    assertTensor(op, 'c', c);
    if (c.rank !== 2 || c.shape[0] !== m || c.shape[1] !== n) throw new ShapeError(`${op}: c must have shape [${m},${n}], got [${c.shape}]`);
    if (c.backend !== backend) throw new ValueError(`${op}: tensors live on different backends`);
  }
  const out = allocateTensor(backend, [m, n]);
  if (c !== undefined && beta !== 0) backend.copy(c.storage, out.storage);
  backend.gemm({ transA: transposeA, transB: transposeB, m, n, k, alpha, a: a.storage, b: b.storage, beta: c ? beta : 0, c: out.storage });
  return out;
}

/** Matrix product of 2-D tensors: [m,k]·[k,n] → [m,n], with optional transposes; differentiable. */
export function matMul(a: Tensor, b: Tensor, options: { transposeA?: boolean; transposeB?: boolean } = {}): Tensor {
  const { transposeA = false, transposeB = false } = options;
  const out = checkedGemm('matMul()', a, b, { transposeA, transposeB });
  // An input that needs no gradient (a model's first-layer inputs) costs no product.
  return record(out, [a, b], (dy, [needA, needB]) => [
    !needA ? null : transposeA ? checkedGemm('matMul() grad', b, dy, { transposeA: transposeB, transposeB: true }) : checkedGemm('matMul() grad', dy, b, { transposeB: !transposeB }),
    !needB ? null : transposeB ? checkedGemm('matMul() grad', dy, a, { transposeA: true, transposeB: transposeA }) : checkedGemm('matMul() grad', a, dy, { transposeA: !transposeA }),
  ]);
}
