import { ReferenceBackend } from '../ts/backend/reference/index.js';

/** Deterministic uniform values in [-1, 1) (mulberry32), so failures reproduce. */
export function randomValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export interface GemmCase {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
}

/** The reference backend's answer for alpha·op(A)·op(B) + beta·C. */
export function referenceGemm(c: GemmCase, a: Float32Array, b: Float32Array, cIn: Float32Array): Float32Array {
  const ref = new ReferenceBackend();
  const [sa, sb, sc] = [a, b, cIn].map((values) => {
    const s = ref.allocate(values.length);
    ref.write(s, values);
    return s;
  });
  ref.gemm({ ...c, a: sa, b: sb, c: sc });
  return ref.readSync(sc);
}

/** Largest elementwise error relative to the largest reference magnitude (robust where values cancel to ~0). */
export function relativeError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(got[i])) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}
