// The browser checks, run on the page's main thread and inside a Worker: GEMM through whichever wasm variant
// ready() picks, compared with the reference backend on random shapes (odd ones included).
import * as kiln from '/dist/index.browser.js';

const SHAPES = [[1, 1, 1], [17, 33, 65], [64, 64, 64], [257, 129, 511]];
const TRANSPOSES = [[false, false], [true, false], [false, true], [true, true]];

function random(count, seed) {
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

function gemmCase([m, n, k], [transA, transB], alpha, beta, seed) {
  const a = kiln.tensor(random(m * k, seed), transA ? [k, m] : [m, k]);
  const b = kiln.tensor(random(k * n, seed + 1), transB ? [n, k] : [k, n]);
  const c = kiln.tensor(random(m * n, seed + 2), [m, n]);
  const out = kiln.gemm(a, b, { transposeA: transA, transposeB: transB, alpha, beta, c });
  const values = out.dataSync();
  for (const t of [a, b, c, out]) t.dispose();
  return values;
}

function allCases() {
  const results = [];
  SHAPES.forEach((shape, s) =>
    TRANSPOSES.forEach((trans, t) => results.push(gemmCase(shape, trans, t === 3 ? -0.5 : 1, t === 2 ? 0.25 : 0, s * 4 + t + 1))),
  );
  return results;
}

function relativeError(got, want) {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(got[i])) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** A small CNN trained for a few epochs on a learnable problem: the loss must fall. */
async function trainSmallCnn() {
  const model = kiln.sequential(
    [kiln.layers.conv2d(4, 3, { activation: 'relu', padding: 'same' }), kiln.layers.maxPooling2d(), kiln.layers.flatten(), kiln.layers.dense(2)],
    { inputShape: [6, 6, 1], seed: 1 },
  );
  model.compile({ optimizer: new kiln.Adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
  const x = random(64 * 36, 5);
  const y = Int32Array.from({ length: 64 }, (_, i) => (x[i * 36] + x[i * 36 + 14] > 0 ? 1 : 0));
  const { history } = await model.fit(x, y, { epochs: 8, batchSize: 16 });
  model.dispose();
  return { first: history.loss[0], last: history.loss.at(-1) };
}

/** Runs every case on the wasm backend and on the reference backend; reports the variant and the worst error. */
export async function check(readyOptions) {
  await kiln.ready({ backend: 'reference' });
  const want = allCases();
  const info = await kiln.ready(readyOptions);
  const got = allCases();
  const maxError = Math.max(...got.map((g, i) => relativeError(g, want[i])));
  const training = await trainSmallCnn();
  return { info, maxError, cases: got.length, training, crossOriginIsolated: globalThis.crossOriginIsolated === true };
}
