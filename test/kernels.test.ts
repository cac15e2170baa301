// Every wasm kernel against the reference backend on random inputs with odd sizes, through the Backend
// interface, for the simd and threads builds; then the gradient checks again on wasm.
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { NO_WINNER, winnerStorageSize, type Backend, type Conv2dGeometry, type Pool2dGeometry, type Storage } from '../ts/backend/backend.js';
import { getBackend } from '../ts/backend/registry.js';
import { ReferenceBackend } from '../ts/backend/reference/index.js';
import { conv2dGeometry, pool2dGeometry } from '../ts/ops/geometry.js';
import { GRAD_CASES, checkFusedConvMaxPool, checkFusedConvRelu, checkGradients } from './gradcheck.js';
import { randomValues, relativeError } from './helpers.js';

type Inputs = (Float32Array | Int32Array)[];
interface KernelCase {
  name: string;
  inputs: Inputs;
  /** Output sizes and dtypes. */
  outputs: [number, 'float32' | 'int32'][];
  run: (b: Backend, inputs: Storage[], outputs: Storage[]) => number | void;
}

const positive = (n: number, seed: number) => randomValues(n, seed).map((v) => 0.1 + Math.abs(v));

const conv = (x: number[], f: number[], strides: number | [number, number], padding: 'valid' | 'same', dilation = 1): [Conv2dGeometry, number[], number[]] => {
  const g = conv2dGeometry('test', x, f, strides, padding, dilation);
  return [g, x, f];
};
const pool = (x: number[], size: number, strides: number | undefined, padding: 'valid' | 'same'): Pool2dGeometry => pool2dGeometry('test', x, size, strides, padding);
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
const outLen = (g: Conv2dGeometry) => g.batch * g.outH * g.outW * g.outC;

function convCases(): KernelCase[] {
  const geometries = [
    conv([3, 9, 7, 3], [3, 3, 3, 6], 1, 'valid'),
    conv([2, 8, 9, 5], [2, 3, 5, 4], 2, 'same'),
    conv([2, 9, 9, 3], [3, 3, 3, 5], 1, 'valid', 2),
    conv([5, 32, 32, 3], [3, 3, 3, 32], 1, 'valid'), // conv1 of the seed CNN
    conv([6, 15, 15, 32], [3, 3, 32, 64], 1, 'valid'), // conv2: one image per block, the second task short
    conv([3, 8, 10, 7], [3, 2, 7, 19], [1, 2], 'same', 2), // three filter panels, the last short; dilated runs
  ];
  return geometries.flatMap(([g, xs, fs], i) => {
    const x = randomValues(prod(xs), 10 + i);
    const f = randomValues(prod(fs), 20 + i);
    const bias = randomValues(g.outC, 30 + i);
    const dy = randomValues(outLen(g), 40 + i);
    const reluOutput = randomValues(outLen(g), 45 + i).map((v) => Math.max(v, 0)); // about half masked
    const tag = `[${xs}]*[${fs}] ${g.padding} s${g.strideH} d${g.dilationH}`;
    const grads: [number, 'float32'][] = [[x.length, 'float32'], [f.length, 'float32'], [g.outC, 'float32']];
    return [
      { name: `conv2d ${tag}`, inputs: [x, f, bias], outputs: [[outLen(g), 'float32']], run: (b, [x, f, bias], [y]) => b.conv2d(g, x, f, bias, false, y) },
      { name: `conv2d relu ${tag}`, inputs: [x, f, bias], outputs: [[outLen(g), 'float32']], run: (b, [x, f, bias], [y]) => b.conv2d(g, x, f, bias, true, y) },
      { name: `conv2d relu, no bias ${tag}`, inputs: [x, f], outputs: [[outLen(g), 'float32']], run: (b, [x, f], [y]) => b.conv2d(g, x, f, null, true, y) },
      {
        name: `conv2dBackward ${tag}`,
        inputs: [x, f, dy],
        outputs: grads,
        run: (b, [x, filter, dy], [dx, dFilter, dBias]) => b.conv2dBackward(g, { x, filter, reluOutput: null, dy, dx, dFilter, dBias }),
      },
      {
        name: `conv2dBackward relu ${tag}`,
        inputs: [x, f, reluOutput, dy],
        outputs: grads,
        run: (b, [x, filter, reluOutput, dy], [dx, dFilter, dBias]) => b.conv2dBackward(g, { x, filter, reluOutput, dy, dx, dFilter, dBias }),
      },
      {
        name: `conv2dBackward filter only ${tag}`,
        inputs: [x, f, dy],
        outputs: [[f.length, 'float32']],
        run: (b, [x, filter, dy], [dFilter]) => b.conv2dBackward(g, { x, filter, reluOutput: null, dy, dx: null, dFilter, dBias: null }),
      },
    ] satisfies KernelCase[];
  });
}

/** conv2dMaxPool and its backward; the backward reads random winners (each cell of a window, or none). */
function convMaxPoolCases(): KernelCase[] {
  const geometries: [Conv2dGeometry, number[], number[], Pool2dGeometry][] = [
    [...conv([3, 12, 12, 3], [3, 3, 3, 8], 1, 'valid'), pool2dGeometry('test', [3, 10, 10, 8], 2, undefined, 'valid')],
    [...conv([2, 9, 11, 5], [3, 3, 5, 11], 1, 'same'), pool2dGeometry('test', [2, 9, 11, 11], [3, 2], [3, 3], 'valid')],
  ];
  return geometries.flatMap(([g, xs, fs, p], i) => {
    const x = randomValues(prod(xs), 60 + i);
    const f = randomValues(prod(fs), 62 + i);
    const bias = randomValues(g.outC, 64 + i);
    const pooled = p.batch * p.outH * p.outW * p.channels;
    const dy = randomValues(pooled, 66 + i);
    const cells = p.poolH * p.poolW;
    const winnerBytes = Uint8Array.from(randomValues(winnerStorageSize(p) * 4, 68 + i), (v) => (v > 0.8 ? NO_WINNER : Math.floor((v + 1) * cells) % cells));
    const winners = new Int32Array(winnerBytes.buffer);
    const tag = `[${xs}]*[${fs}] ${g.padding}, pool [${p.poolH},${p.poolW}] s[${p.strideH},${p.strideW}]`;
    const forwardOutputs: [number, 'float32' | 'int32'][] = [[pooled, 'float32'], [winnerStorageSize(p), 'int32']];
    const grads: [number, 'float32'][] = [[x.length, 'float32'], [f.length, 'float32'], [g.outC, 'float32']];
    return [true, false].flatMap((relu) => [
      {
        name: `conv2dMaxPool${relu ? ' relu' : ''} ${tag}`,
        inputs: [x, f, bias],
        outputs: forwardOutputs,
        run: (b, [x, f, bias], [y, won]) => b.conv2dMaxPool(g, p, x, f, bias, relu, y, won),
      },
    ] satisfies KernelCase[]).concat([
      {
        name: `conv2dBackward after conv2dMaxPool ${tag}`,
        inputs: [x, f, dy, winners],
        outputs: grads,
        run: (b, [x, filter, dy, won], [dx, dFilter, dBias]) => b.conv2dBackward(g, { x, filter, reluOutput: null, dy, maxPool: { g: p, winners: won }, dx, dFilter, dBias }),
      },
    ]);
  });
}

function poolCases(): KernelCase[] {
  const geometries = [
    pool([3, 9, 7, 5], 2, undefined, 'valid'),
    pool([2, 7, 8, 3], 3, 2, 'same'),
    pool([2, 7, 9, 7], 3, 1, 'same'), // overlapping windows
    pool([2, 8, 11, 33], 2, 3, 'valid'), // stride wider than the window
  ];
  return geometries.flatMap((g, i) => {
    const x = randomValues(g.batch * g.inH * g.inW * g.channels, 50 + i);
    const ties = x.map((v) => Math.round(v * 2) / 2); // five values: most windows hold their maximum twice or more
    const n = g.batch * g.outH * g.outW * g.channels;
    const dy = randomValues(n, 60 + i);
    const tag = `[${g.batch},${g.inH},${g.inW},${g.channels}] ${g.poolH}x${g.poolW} s${g.strideH} ${g.padding}`;
    const maxPoolBackward = (b: Backend, [x, dy]: Storage[], [dx]: Storage[]) => {
      const y = b.allocate(n);
      b.maxPool(g, x, y);
      b.maxPoolBackward(g, x, y, dy, dx);
      b.free(y);
    };
    return [
      { name: `maxPool ${tag}`, inputs: [x], outputs: [[n, 'float32']], run: (b, [x], [y]) => b.maxPool(g, x, y) },
      { name: `maxPoolBackward ${tag}`, inputs: [x, dy], outputs: [[x.length, 'float32']], run: maxPoolBackward },
      { name: `maxPoolBackward with ties ${tag}`, inputs: [ties, dy], outputs: [[x.length, 'float32']], run: maxPoolBackward },
      { name: `avgPool ${tag}`, inputs: [x], outputs: [[n, 'float32']], run: (b, [x], [y]) => b.avgPool(g, x, y) },
      { name: `avgPoolBackward ${tag}`, inputs: [dy], outputs: [[x.length, 'float32']], run: (b, [dy], [dx]) => b.avgPoolBackward(g, dy, dx) },
    ] satisfies KernelCase[];
  });
}

const N = 1037; // odd, and more than one SIMD/parallel chunk of small ops
const CASES: KernelCase[] = [
  ...(['neg', 'exp', 'square', 'relu', 'sigmoid', 'tanh'] as const).map((op, i): KernelCase => ({
    name: `unary ${op}`, inputs: [randomValues(N, 70 + i)], outputs: [[N, 'float32']], run: (b, [x], [y]) => b.unary(op, x, y),
  })),
  ...(['log', 'sqrt'] as const).map((op, i): KernelCase => ({
    name: `unary ${op}`, inputs: [positive(N, 80 + i)], outputs: [[N, 'float32']], run: (b, [x], [y]) => b.unary(op, x, y),
  })),
  ...(['relu', 'sigmoid', 'tanh'] as const).map((op, i): KernelCase => ({
    name: `activationGrad ${op}`, inputs: [randomValues(N, 90 + i), randomValues(N, 95 + i)], outputs: [[N, 'float32']], run: (b, [y, dy], [dx]) => b.activationGrad(op, y, dy, dx),
  })),
  ...(['add', 'sub', 'mul', 'div'] as const).flatMap((op, i): KernelCase[] => [
    { name: `binary ${op} same size`, inputs: [randomValues(N, 100 + i), positive(N, 105 + i)], outputs: [[N, 'float32']], run: (b, [x, y], [o]) => b.binary(op, x, y, o) },
    { name: `binary ${op} broadcast [61]→[17,61]`, inputs: [randomValues(17 * 61, 110 + i), positive(61, 115 + i)], outputs: [[17 * 61, 'float32']], run: (b, [x, y], [o]) => b.binary(op, x, y, o) },
  ]),
  { name: 'leakyRelu', inputs: [randomValues(N, 170)], outputs: [[N, 'float32']], run: (b, [x], [y]) => b.leakyRelu(x, 0.3, y) },
  { name: 'leakyReluGrad', inputs: [randomValues(N, 171), randomValues(N, 172)], outputs: [[N, 'float32']], run: (b, [y, dy], [dx]) => b.leakyReluGrad(y, 0.2, dy, dx) },
  {
    // 3 × 5 blocks of 7 values, strided on both sides, into a buffer already holding values (kept between blocks).
    name: 'copyBlocks [3,5]×7 strided',
    inputs: [randomValues(3 * 5 * 11 + 13, 173), randomValues(3 * 61 + 40, 174)],
    outputs: [],
    run: (b, [src, dst]) => b.copyBlocks(3, 5, 7, src, { offset: 13, outerStride: 55, innerStride: 11 }, dst, { offset: 2, outerStride: 61, innerStride: 9 }),
  },
  { name: 'affine', inputs: [randomValues(N, 120)], outputs: [[N, 'float32']], run: (b, [x], [o]) => b.affine(x, -1.5, 0.25, o) },
  { name: 'fill', inputs: [], outputs: [[N, 'float32']], run: (b, _, [o]) => b.fill(o, 2.5) },
  ...[0, 0.3, 0.9].map((rate): KernelCase => ({
    name: `dropout rate ${rate}`, inputs: [randomValues(40_000, 126)], outputs: [[40_000, 'float32'], [40_000, 'float32']], run: (b, [x], [y, mask]) => b.dropout(x, rate, 0xdeadbeef, y, mask),
  })),
  { name: 'sumRows [37,29]', inputs: [randomValues(37 * 29, 121)], outputs: [[29, 'float32']], run: (b, [x], [o]) => b.sumRows(x, 37, 29, o) },
  { name: 'sumCols [37,29]', inputs: [randomValues(37 * 29, 122)], outputs: [[37, 'float32']], run: (b, [x], [o]) => b.sumCols(x, 37, 29, o) },
  { name: 'softmaxRows [13,10]', inputs: [randomValues(130, 123).map((v) => v * 20)], outputs: [[130, 'float32']], run: (b, [x], [o]) => b.softmaxRows(x, 13, 10, o) },
  { name: 'logSoftmaxRows [13,10]', inputs: [randomValues(130, 124).map((v) => v * 20)], outputs: [[130, 'float32']], run: (b, [x], [o]) => b.logSoftmaxRows(x, 13, 10, o) },
  {
    name: 'softmaxCrossEntropy [13,10]',
    inputs: [randomValues(130, 125).map((v) => v * 5), Int32Array.from({ length: 13 }, (_, i) => (i * 7) % 10)],
    outputs: [[130, 'float32']],
    run: (b, [logits, labels], [g]) => b.softmaxCrossEntropy(logits, labels, 13, 10, g),
  },
  ...[false, true].map((fromLogits): KernelCase => ({
    name: `binaryCrossEntropy${fromLogits ? ' from logits' : ''}`,
    inputs: [fromLogits ? randomValues(N, 160).map((v) => v * 6) : positive(N, 161).map((v) => Math.min(v, 1.2) / 1.25), randomValues(N, 162).map((v) => (v > 0 ? 1 : 0))],
    outputs: [[N, 'float32']],
    run: (b, [p, t], [g]) => b.binaryCrossEntropy(p, t, fromLogits, g),
  })),
  ...(() => {
    const [rows, channels] = [37, 5];
    const [x, dy] = [randomValues(rows * channels, 150).map((v) => v * 3 + 1), randomValues(rows * channels, 151)];
    const [gamma, beta] = [randomValues(channels, 152), randomValues(channels, 153)];
    const [mean, invStd] = [randomValues(channels, 154).map((v) => v + 1), positive(channels, 155)];
    return [
      {
        name: 'batchNormUpdateMoving [5]',
        inputs: [mean, invStd, randomValues(channels, 157), positive(channels, 158)],
        outputs: [[channels, 'float32'], [channels, 'float32']],
        run: (b, [m, s, movingMean, movingVariance], [outMean, outVariance]) => {
          b.copy(movingMean, outMean);
          b.copy(movingVariance, outVariance);
          b.batchNormUpdateMoving(m, s, 1e-3, 0.9, outMean, outVariance);
        },
      },
      { name: 'batchNormTrain [37,5]', inputs: [x, gamma, beta], outputs: [[rows * channels, 'float32'], [channels, 'float32'], [channels, 'float32']], run: (b, [x, g, bt], [y, m, s]) => b.batchNormTrain(x, rows, channels, g, bt, 1e-3, y, m, s) },
      { name: 'batchNormInference [37,5]', inputs: [x, gamma, beta, mean, positive(channels, 156)], outputs: [[rows * channels, 'float32']], run: (b, [x, g, bt, m, v], [y]) => b.batchNormInference(x, rows, channels, g, bt, m, v, 1e-3, y) },
      { name: 'batchNormBackward [37,5]', inputs: [x, dy, gamma, mean, invStd], outputs: [[rows * channels, 'float32'], [channels, 'float32'], [channels, 'float32']], run: (b, [x, dy, g, m, s], [dx, dg, db]) => b.batchNormBackward(x, dy, rows, channels, g, m, s, dx, dg, db) },
    ] satisfies KernelCase[];
  })(),
  ...convCases(),
  ...convMaxPoolCases(),
  ...poolCases(),
  {
    name: 'adamUpdate (AdamW)', inputs: [randomValues(N, 130), randomValues(N, 131), randomValues(N, 132).map((v) => v * 0.1), positive(N, 133).map((v) => v * 0.01)], outputs: [],
    run: (b, [p, g, m, v]) => b.adamUpdate(p, g, m, v, { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 3, weightDecay: 0.01 }),
  },
  { name: 'sgdUpdate Nesterov', inputs: [randomValues(N, 134), randomValues(N, 135), randomValues(N, 136)], outputs: [], run: (b, [p, g, v]) => b.sgdUpdate(p, g, v, 0.1, 0.9, true) },
  { name: 'sgdUpdate plain', inputs: [randomValues(N, 137), randomValues(N, 138)], outputs: [], run: (b, [p, g]) => b.sgdUpdate(p, g, null, 0.1, 0, false) },
  { name: 'adagradUpdate', inputs: [randomValues(N, 139), randomValues(N, 140), positive(N, 141)], outputs: [], run: (b, [p, g, a]) => b.adagradUpdate(p, g, a, 0.1, 1e-7) },
  { name: 'rmspropUpdate', inputs: [randomValues(N, 142), randomValues(N, 143), positive(N, 144)], outputs: [], run: (b, [p, g, ms]) => b.rmspropUpdate(p, g, ms, 0.01, 0.9, 1e-7) },
];

/** Runs a case; returns every buffer afterwards (inputs too: optimizer updates write in place) and the scalar result. */
function execute(b: Backend, c: KernelCase) {
  const inputs = c.inputs.map((values) => {
    const s = b.allocate(values.length, values instanceof Int32Array ? 'int32' : 'float32');
    b.write(s, values);
    return s;
  });
  const outputs = c.outputs.map(([size, dtype]) => b.allocate(size, dtype));
  const result = c.run(b, inputs, outputs);
  const buffers = [...inputs, ...outputs].map((s) => b.readSync!(s));
  for (const s of [...inputs, ...outputs]) b.free(s);
  return { buffers, result };
}

const reference = new ReferenceBackend();

for (const variant of ['simd', 'threads-relaxed'] as const) {
  describe(`wasm ${variant} kernels vs the reference backend`, () => {
    beforeAll(async () => {
      await kiln.ready({ variant, threads: 2 });
    });

    for (const c of CASES) {
      it(c.name, () => {
        const want = execute(reference, c);
        const got = execute(getBackend(), c);
        if (typeof want.result === 'number') expect(Math.abs((got.result as number) - want.result)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want.result)));
        want.buffers.forEach((w, i) => {
          if (w instanceof Int32Array) expect(Array.from(got.buffers[i]), `buffer ${i}`).toEqual(Array.from(w));
          else expect(relativeError(got.buffers[i] as Float32Array, w), `buffer ${i}`).toBeLessThan(1e-4);
        });
      });
    }

    it('writeBytes divides each byte exactly like the reference, over several parallel chunks', () => {
      // Every byte value, more than two 32768-element chunks, an odd length.
      const bytes = Uint8Array.from({ length: 70001 }, (_, i) => (i * 7) % 256);
      for (const divisor of [255, 1, -3.5]) {
        const read = (b: Backend) => {
          const s = b.allocate(bytes.length);
          b.writeBytes(s, bytes, divisor);
          const values = b.readSync!(s);
          b.free(s);
          return values;
        };
        expect(read(getBackend())).toEqual(read(reference));
      }
    });

    it('countNonFinite counts NaN and ±∞ over several buffers like the reference', () => {
      const buffers = [randomValues(N, 175).map((v, i) => (i % 97 === 0 ? NaN : i % 89 === 0 ? -Infinity : v)), randomValues(5, 176), Float32Array.of(Infinity, 1, 2)];
      const count = (b: Backend) => {
        const inputs = buffers.map((values) => {
          const s = b.allocate(values.length);
          b.write(s, values);
          return s;
        });
        const out = b.allocate(1);
        b.countNonFinite(inputs, out);
        const n = b.readSync!(out)[0];
        for (const s of [...inputs, out]) b.free(s);
        return n;
      };
      const want = count(reference);
      expect(want).toBe(buffers[0].filter((v) => !Number.isFinite(v)).length + 1);
      expect(count(getBackend())).toBe(want);
    });

    it('fromBytes: named errors for bad bytes, shape and divisor, and nothing leaks', () => {
      const before = kiln.memory().liveBytes;
      const t = kiln.fromBytes(new Uint8Array([0, 51, 255, 7, 9, 200]), [2, 3], 255);
      expect(Array.from(t.dataSync())).toEqual([0, 51, 255, 7, 9, 200].map((v) => Math.fround(v / 255)));
      t.dispose();
      expect(() => kiln.fromBytes(new Float32Array(6) as never, [2, 3])).toThrow('fromBytes(): bytes must be a Uint8Array, got Float32Array');
      expect(() => kiln.fromBytes(new Uint8Array(5), [2, 3])).toThrow('fromBytes(): shape [2,3] needs 6 bytes, got 5');
      for (const divisor of [0, NaN, Infinity, 1e-50, '255' as never]) {
        expect(() => kiln.fromBytes(new Uint8Array(6), [2, 3], divisor)).toThrow('fromBytes(): divisor must be a finite nonzero float32');
      }
      expect(kiln.memory().liveBytes).toBe(before);
    });

    it('a label out of range is a named error and leaks nothing', () => {
      const before = kiln.memory().liveBytes;
      const logits = kiln.tensor(randomValues(6, 1), [2, 3]);
      const labels = kiln.tensor(new Int32Array([1, 3]));
      expect(() => kiln.softmaxCrossEntropy(logits, labels)).toThrow(/label.*3/);
      logits.dispose();
      labels.dispose();
      expect(kiln.memory().liveBytes).toBe(before);
    });
  });
}

describe('gradients on the wasm backend match central differences', () => {
  beforeAll(async () => {
    await kiln.ready({ variant: 'threads-relaxed', threads: 2 });
  });
  for (const c of GRAD_CASES) it(c.name, () => checkGradients(c));
  it('conv2d with fused ReLU has the gradients of conv2d then relu', checkFusedConvRelu);
  it('conv2d with a fused max pooling has the values and gradients of conv2d then maxPool2d', checkFusedConvMaxPool);
});
