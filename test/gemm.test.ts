import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { randomValues, referenceGemm, relativeError, type GemmCase } from './helpers.js';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [2, 3, 1],
  [17, 33, 65],
  [64, 64, 64],
  [257, 129, 511],
  [5, 300, 3],
  // One tile each, cut in two on 2 threads: by columns, then (too narrow) by rows.
  [37, 61, 500],
  [100, 9, 1200],
];
const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

function runCase(c: GemmCase, seed: number) {
  const aValues = randomValues(c.m * c.k, seed);
  const bValues = randomValues(c.k * c.n, seed + 1);
  const cValues = randomValues(c.m * c.n, seed + 2);
  const a = kiln.tensor(aValues, c.transA ? [c.k, c.m] : [c.m, c.k]);
  const b = kiln.tensor(bValues, c.transB ? [c.n, c.k] : [c.k, c.n]);
  const cIn = kiln.tensor(cValues, [c.m, c.n]);
  const out = kiln.gemm(a, b, { transposeA: c.transA, transposeB: c.transB, alpha: c.alpha, beta: c.beta, c: cIn });
  expect(out.shape).toEqual([c.m, c.n]);
  const got = out.dataSync();
  expect(cIn.dataSync()).toEqual(cValues); // C is an input, never overwritten
  for (const t of [a, b, cIn, out]) t.dispose();
  return relativeError(got, referenceGemm(c, aValues, bValues, cValues));
}

for (const variant of ['simd', 'threads', 'simd-relaxed', 'threads-relaxed'] as const) {
  describe(`wasm ${variant} GEMM vs the reference backend`, () => {
    beforeAll(async () => {
      const info = await kiln.ready({ variant, threads: 2 });
      expect(info.variant).toBe(variant);
      expect(info.threads).toBe(variant.startsWith('threads') ? 2 : 1);
    });

    for (const [m, n, k] of SHAPES) {
      it(`${m}x${n}x${k}, all transposes, within 1e-4`, () => {
        for (const [transA, transB] of TRANSPOSES) {
          const err = runCase({ m, n, k, transA, transB, alpha: 1, beta: 0 }, m * 7 + n * 3 + k);
          expect(err, `transA=${transA} transB=${transB}`).toBeLessThan(1e-4);
        }
      });
    }

    it('alpha and beta, including negative and fractional', () => {
      for (const [alpha, beta] of [[0.5, 2], [-1.5, 0.25], [2, -1], [0, 3]]) {
        const err = runCase({ m: 19, n: 23, k: 29, transA: false, transB: true, alpha, beta }, 11);
        expect(err, `alpha=${alpha} beta=${beta}`).toBeLessThan(1e-4);
      }
    });

    it('matMul agrees with gemm and with known values', () => {
      const a = kiln.tensor([[1, 2, 3], [4, 5, 6]]);
      const b = kiln.tensor([[7, 8], [9, 10], [11, 12]]);
      const c = kiln.matMul(a, b);
      expect(Array.from(c.dataSync())).toEqual([58, 64, 139, 154]);
      const ct = kiln.matMul(b, a, { transposeA: true, transposeB: true });
      expect(Array.from(ct.dataSync())).toEqual([58, 139, 64, 154]);
      for (const t of [a, b, c, ct]) t.dispose();
    });
  });
}
