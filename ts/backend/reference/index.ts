/**
 * Plain-TypeScript backend: the oracle the wasm (and later webgpu) kernels are tested against. Written for
 * clarity over speed; accumulates in float64 (JS numbers) and stores float32.
 */
import type {
  ActivationGradOp, AdamArgs, Backend, Blocks, BackendInfo, BinaryOp, Conv2dBackwardArgs, Conv2dGeometry, GemmArgs, MemoryInfo,
  Pool2dGeometry, Storage, StorageDType, UnaryOp,
} from '../backend.js';
import { NO_WINNER } from '../backend.js';
import { OutOfMemoryError, ValueError } from '../../errors.js';

class ArrayStorage implements Storage {
  constructor(readonly values: Float32Array | Int32Array) {}
  get size(): number {
    return this.values.length;
  }
  get dtype(): StorageDType {
    return this.values instanceof Int32Array ? 'int32' : 'float32';
  }
}

const f32 = (s: Storage): Float32Array => (s as ArrayStorage).values as Float32Array;
/** The bytes of a winners storage (see Backend.conv2dMaxPool). */
const winnerBytes = (s: Storage): Uint8Array => {
  const values = (s as ArrayStorage).values;
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
};
const i32 = (s: Storage): Int32Array => (s as ArrayStorage).values as Int32Array;

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  relu: (x) => (x > 0 ? x : 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
};

const ACTIVATION_GRAD: Record<ActivationGradOp, (y: number) => number> = {
  relu: (y) => (y > 0 ? 1 : 0),
  sigmoid: (y) => y * (1 - y),
  tanh: (y) => 1 - y * y,
};

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

/** Wellons' lowbias32 integer hash, as the Rust dropout kernel draws its mask. */
function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  private liveBytes = 0;

  info(): BackendInfo {
    return { backend: this.name, variant: this.name, threads: 1 };
  }

  allocate(size: number, dtype: StorageDType = 'float32'): Storage {
    let values: Float32Array | Int32Array;
    try {
      values = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new OutOfMemoryError(`${(size * 4).toLocaleString('en-US')} bytes needed, the JavaScript engine grants no such array (${this.liveBytes.toLocaleString('en-US')} bytes live)`);
    }
    this.liveBytes += size * 4;
    return new ArrayStorage(values);
  }

  free(storage: Storage): void {
    this.liveBytes -= storage.size * 4;
  }

  write(storage: Storage, values: Float32Array | Int32Array): void {
    (storage as ArrayStorage).values.set(values);
  }

  writeBytes(storage: Storage, bytes: Uint8Array, divisor: number): void {
    const out = (storage as ArrayStorage).values;
    // A float64 quotient rounded once to float32 is the float32 quotient.
    for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / divisor;
  }

  copy(src: Storage, dst: Storage): void {
    (dst as ArrayStorage).values.set((src as ArrayStorage).values);
  }

  async read(storage: Storage): Promise<Float32Array | Int32Array> {
    return this.readSync(storage);
  }

  readSync(storage: Storage): Float32Array | Int32Array {
    return (storage as ArrayStorage).values.slice();
  }

  memory(): MemoryInfo {
    return { liveBytes: this.liveBytes, heapBytes: this.liveBytes };
  }

  gemm({ transA, transB, m, n, k, alpha, a, b, beta, c }: GemmArgs): void {
    const [av, bv, cv] = [f32(a), f32(b), f32(c)];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          sum += (transA ? av[p * m + i] : av[i * k + p]) * (transB ? bv[j * k + p] : bv[p * n + j]);
        }
        cv[i * n + j] = alpha * sum + (beta === 0 ? 0 : beta * cv[i * n + j]);
      }
    }
  }

  unary(op: UnaryOp, x: Storage, out: Storage): void {
    const [xv, ov, fn] = [f32(x), f32(out), UNARY[op]];
    for (let i = 0; i < xv.length; i++) ov[i] = fn(xv[i]);
  }

  activationGrad(op: ActivationGradOp, y: Storage, dy: Storage, dx: Storage): void {
    const [yv, dyv, dxv, fn] = [f32(y), f32(dy), f32(dx), ACTIVATION_GRAD[op]];
    for (let i = 0; i < yv.length; i++) dxv[i] = dyv[i] * fn(yv[i]);
  }

  leakyRelu(x: Storage, alpha: number, y: Storage): void {
    const [xv, yv] = [f32(x), f32(y)];
    for (let i = 0; i < xv.length; i++) yv[i] = xv[i] > 0 ? xv[i] : alpha * xv[i];
  }

  leakyReluGrad(y: Storage, alpha: number, dy: Storage, dx: Storage): void {
    const [yv, dyv, dxv] = [f32(y), f32(dy), f32(dx)];
    for (let i = 0; i < yv.length; i++) dxv[i] = yv[i] > 0 ? dyv[i] : alpha * dyv[i];
  }

  copyBlocks(outer: number, inner: number, width: number, src: Storage, from: Blocks, dst: Storage, to: Blocks): void {
    const [sv, dv] = [(src as ArrayStorage).values, (dst as ArrayStorage).values];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const s = from.offset + o * from.outerStride + i * from.innerStride;
        dv.set(sv.subarray(s, s + width), to.offset + o * to.outerStride + i * to.innerStride);
      }
    }
  }

  binary(op: BinaryOp, a: Storage, b: Storage, out: Storage): void {
    const [av, bv, ov, fn] = [f32(a), f32(b), f32(out), BINARY[op]];
    for (let i = 0; i < av.length; i++) ov[i] = fn(av[i], bv[i % bv.length]);
  }

  fill(out: Storage, value: number): void {
    f32(out).fill(value);
  }

  affine(x: Storage, alpha: number, beta: number, out: Storage): void {
    const [xv, ov] = [f32(x), f32(out)];
    for (let i = 0; i < xv.length; i++) ov[i] = alpha * xv[i] + beta;
  }

  countNonFinite(inputs: Storage[], out: Storage): void {
    f32(out)[0] = inputs.reduce((n, s) => n + Array.from(f32(s)).filter((v) => !Number.isFinite(v)).length, 0);
  }

  sumRows(x: Storage, rows: number, cols: number, out: Storage): void {
    const [xv, ov] = [f32(x), f32(out)];
    for (let j = 0; j < cols; j++) {
      let sum = 0;
      for (let i = 0; i < rows; i++) sum += xv[i * cols + j];
      ov[j] = sum;
    }
  }

  sumCols(x: Storage, rows: number, cols: number, out: Storage): void {
    const [xv, ov] = [f32(x), f32(out)];
    for (let i = 0; i < rows; i++) ov[i] = xv.subarray(i * cols, (i + 1) * cols).reduce((a, b) => a + b, 0);
  }

  softmaxRows(x: Storage, rows: number, cols: number, out: Storage): void {
    this.logSoftmaxRows(x, rows, cols, out);
    const ov = f32(out);
    for (let i = 0; i < ov.length; i++) ov[i] = Math.exp(ov[i]);
  }

  logSoftmaxRows(x: Storage, rows: number, cols: number, out: Storage): void {
    const [xv, ov] = [f32(x), f32(out)];
    for (let i = 0; i < rows; i++) {
      const row = xv.subarray(i * cols, (i + 1) * cols);
      const max = Math.max(...row);
      const shift = max + Math.log(row.reduce((total, v) => total + Math.exp(v - max), 0));
      for (let j = 0; j < cols; j++) ov[i * cols + j] = row[j] - shift;
    }
  }

  softmaxCrossEntropy(logits: Storage, labels: Storage, rows: number, classes: number, gradLogits: Storage): number {
    const [yv, gv] = [i32(labels), f32(gradLogits)];
    this.logSoftmaxRows(logits, rows, classes, gradLogits);
    let loss = 0;
    for (let i = 0; i < rows; i++) {
      const label = yv[i];
      if (label < 0 || label >= classes) {
        throw new ValueError(`softmaxCrossEntropy: label at row ${i} must be in [0, ${classes}), got ${label}`);
      }
      loss -= gv[i * classes + label];
    }
    for (let i = 0; i < rows * classes; i++) gv[i] = (Math.exp(gv[i]) - (yv[Math.floor(i / classes)] === i % classes ? 1 : 0)) / rows;
    return loss / rows;
  }

  binaryCrossEntropy(prediction: Storage, target: Storage, fromLogits: boolean, grad: Storage): number {
    const [pv, tv, gv] = [f32(prediction), f32(target), f32(grad)];
    const n = pv.length;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const [x, t] = [pv[i], tv[i]];
      if (fromLogits) {
        loss += Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
        gv[i] = (1 / (1 + Math.exp(-x)) - t) / n;
      } else {
        const p = Math.min(Math.max(x, 1e-7), 1 - 1e-7);
        loss -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
        gv[i] = p === x ? ((1 - t) / (1 - p) - t / p) / n : 0;
      }
    }
    return loss / n;
  }

  /** Calls visit(outIndex, inIndex, filterIndex) for every tap of the convolution that lands inside the input. */
  private convTaps(g: Conv2dGeometry, visit: (o: number, i: number, f: number) => void): void {
    for (let b = 0; b < g.batch; b++)
      for (let oy = 0; oy < g.outH; oy++)
        for (let ox = 0; ox < g.outW; ox++)
          for (let ky = 0; ky < g.kH; ky++) {
            const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
            if (iy < 0 || iy >= g.inH) continue;
            for (let kx = 0; kx < g.kW; kx++) {
              const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
              if (ix < 0 || ix >= g.inW) continue;
              for (let ci = 0; ci < g.inC; ci++)
                for (let co = 0; co < g.outC; co++) {
                  visit(
                    ((b * g.outH + oy) * g.outW + ox) * g.outC + co,
                    ((b * g.inH + iy) * g.inW + ix) * g.inC + ci,
                    ((ky * g.kW + kx) * g.inC + ci) * g.outC + co,
                  );
                }
            }
          }
  }

  conv2d(g: Conv2dGeometry, x: Storage, filter: Storage, bias: Storage | null, relu: boolean, out: Storage): void {
    const [xv, fv, ov] = [f32(x), f32(filter), f32(out)];
    const acc = new Float64Array(ov.length);
    this.convTaps(g, (o, i, f) => (acc[o] += xv[i] * fv[f]));
    const bv = bias ? f32(bias) : null;
    for (let o = 0; o < ov.length; o++) {
      const v = acc[o] + (bv ? bv[o % g.outC] : 0);
      ov[o] = relu && !(v > 0) ? 0 : v;
    }
  }

  conv2dBackward(g: Conv2dGeometry, { x, filter, reluOutput, dy, maxPool, dx, dFilter, dBias }: Conv2dBackwardArgs): void {
    const [xv, fv, dfv] = [f32(x), f32(filter), f32(dFilter)];
    const dyv = maxPool ? this.unpool(g, maxPool.g, f32(dy), winnerBytes(maxPool.winners)) : Float32Array.from(f32(dy));
    if (reluOutput) {
      const yv = f32(reluOutput);
      for (let o = 0; o < dyv.length; o++) if (!(yv[o] > 0)) dyv[o] = 0;
    }
    if (dx) {
      const acc = new Float64Array(dx.size);
      this.convTaps(g, (o, i, f) => (acc[i] += dyv[o] * fv[f]));
      f32(dx).set(acc);
    }
    const acc = new Float64Array(dfv.length);
    this.convTaps(g, (o, i, f) => (acc[f] += xv[i] * dyv[o]));
    dfv.set(acc);
    if (dBias) {
      const sums = new Float64Array(g.outC);
      for (let o = 0; o < dyv.length; o++) sums[o % g.outC] += dyv[o];
      f32(dBias).set(sums);
    }
  }

  conv2dMaxPool(g: Conv2dGeometry, pool: Pool2dGeometry, x: Storage, filter: Storage, bias: Storage | null, relu: boolean, out: Storage, winners: Storage): void {
    const y = new ArrayStorage(new Float32Array(g.batch * g.outH * g.outW * g.outC));
    this.conv2d(g, x, filter, bias, relu, y);
    const [yv, ov, won] = [f32(y), f32(out), winnerBytes(winners)];
    // Window cells are visited in row-major order from cell 0, so `>` keeps the first maximum.
    this.poolTaps(pool, (o, i, cell) => {
      if (yv[i] > ov[o] || cell === 0) {
        ov[o] = yv[i];
        won[o] = cell;
      }
    });
    if (relu) for (let o = 0; o < ov.length; o++) if (!(ov[o] > 0)) won[o] = NO_WINNER;
  }

  /** The output gradient of conv2dMaxPool: each pooled value's gradient at its window's winner, zeros elsewhere. */
  private unpool(g: Conv2dGeometry, pool: Pool2dGeometry, dy: Float32Array, won: Uint8Array): Float32Array {
    const full = new Float32Array(g.batch * g.outH * g.outW * g.outC);
    this.poolTaps(pool, (o, i, cell) => {
      if (won[o] === cell) full[i] = dy[o];
    });
    return full;
  }

  /** Calls visit(outIndex, inIndex, cell) for every window cell (row-major index) of the pooling inside the input. */
  private poolTaps(g: Pool2dGeometry, visit: (o: number, i: number, cell: number) => void): void {
    for (let b = 0; b < g.batch; b++)
      for (let oy = 0; oy < g.outH; oy++)
        for (let ox = 0; ox < g.outW; ox++)
          for (let c = 0; c < g.channels; c++)
            for (let py = 0; py < g.poolH; py++) {
              const iy = oy * g.strideH - g.padTop + py;
              if (iy < 0 || iy >= g.inH) continue;
              for (let px = 0; px < g.poolW; px++) {
                const ix = ox * g.strideW - g.padLeft + px;
                if (ix < 0 || ix >= g.inW) continue;
                visit(((b * g.outH + oy) * g.outW + ox) * g.channels + c, ((b * g.inH + iy) * g.inW + ix) * g.channels + c, py * g.poolW + px);
              }
            }
  }

  maxPool(g: Pool2dGeometry, x: Storage, out: Storage): void {
    const [xv, ov] = [f32(x), f32(out)];
    ov.fill(-Infinity);
    this.poolTaps(g, (o, i) => {
      if (xv[i] > ov[o]) ov[o] = xv[i];
    });
  }

  maxPoolBackward(g: Pool2dGeometry, x: Storage, y: Storage, dy: Storage, dx: Storage): void {
    const [xv, yv, dyv, dxv] = [f32(x), f32(y), f32(dy), f32(dx)];
    const routed = new Uint8Array(yv.length);
    dxv.fill(0);
    this.poolTaps(g, (o, i) => {
      if (routed[o] || xv[i] !== yv[o]) return;
      routed[o] = 1;
      dxv[i] += dyv[o];
    });
  }

  avgPool(g: Pool2dGeometry, x: Storage, out: Storage): void {
    const [xv, ov] = [f32(x), f32(out)];
    const counts = new Float64Array(ov.length);
    const sums = new Float64Array(ov.length);
    this.poolTaps(g, (o, i) => {
      sums[o] += xv[i];
      counts[o] += 1;
    });
    for (let o = 0; o < ov.length; o++) ov[o] = sums[o] / counts[o];
  }

  avgPoolBackward(g: Pool2dGeometry, dy: Storage, dx: Storage): void {
    const [dyv, dxv] = [f32(dy), f32(dx)];
    const counts = new Float64Array(dyv.length);
    this.poolTaps(g, (o) => (counts[o] += 1));
    dxv.fill(0);
    this.poolTaps(g, (o, i) => (dxv[i] += dyv[o] / counts[o]));
  }

  dropout(x: Storage, rate: number, seed: number, y: Storage, mask: Storage): void {
    const [xv, yv, mv] = [f32(x), f32(y), f32(mask)];
    const rate32 = Math.fround(rate);
    const scale = Math.fround(1 / Math.fround(1 - rate32));
    const seedHash = hash32(seed);
    for (let i = 0; i < xv.length; i++) {
      const draw = (hash32(Math.imul(i, 0x9e3779b9) ^ seedHash) >>> 8) / 16777216;
      mv[i] = draw >= rate32 ? scale : 0;
      yv[i] = xv[i] * mv[i];
    }
  }

  batchNormUpdateMoving(mean: Storage, invStd: Storage, epsilon: number, momentum: number, movingMean: Storage, movingVariance: Storage): void {
    const [m, s, mm, mv] = [f32(mean), f32(invStd), f32(movingMean), f32(movingVariance)];
    const [keep, take] = [Math.fround(momentum), 1 - Math.fround(momentum)];
    for (let c = 0; c < m.length; c++) {
      mm[c] = keep * mm[c] + take * m[c];
      mv[c] = keep * mv[c] + take * (1 / (s[c] * s[c]) - Math.fround(epsilon));
    }
  }

  batchNormTrain(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, epsilon: number, y: Storage, mean: Storage, invStd: Storage): void {
    const [xv, mv, sv] = [f32(x), f32(mean), f32(invStd)];
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += xv[r * channels + c];
      const mu = sum / rows;
      let squares = 0;
      for (let r = 0; r < rows; r++) squares += (xv[r * channels + c] - mu) ** 2;
      mv[c] = mu;
      sv[c] = 1 / Math.sqrt(squares / rows + epsilon);
    }
    this.normalize(x, rows, channels, gamma, beta, (c) => mv[c], (c) => sv[c], y);
  }

  batchNormInference(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, movingMean: Storage, movingVar: Storage, epsilon: number, y: Storage): void {
    const [mm, mv] = [f32(movingMean), f32(movingVar)];
    this.normalize(x, rows, channels, gamma, beta, (c) => mm[c], (c) => 1 / Math.sqrt(mv[c] + epsilon), y);
  }

  private normalize(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, mean: (c: number) => number, invStd: (c: number) => number, y: Storage): void {
    const [xv, gv, bv, yv] = [f32(x), f32(gamma), f32(beta), f32(y)];
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < channels; c++) yv[r * channels + c] = (xv[r * channels + c] - mean(c)) * invStd(c) * gv[c] + bv[c];
  }

  batchNormBackward(x: Storage, dy: Storage, rows: number, channels: number, gamma: Storage, mean: Storage, invStd: Storage, dx: Storage, dGamma: Storage, dBeta: Storage): void {
    const [xv, dyv, gv, mv, sv, dxv, dgv, dbv] = [x, dy, gamma, mean, invStd, dx, dGamma, dBeta].map(f32);
    for (let c = 0; c < channels; c++) {
      let sumDy = 0;
      let sumDyXhat = 0;
      for (let r = 0; r < rows; r++) {
        const xhat = (xv[r * channels + c] - mv[c]) * sv[c];
        sumDy += dyv[r * channels + c];
        sumDyXhat += dyv[r * channels + c] * xhat;
      }
      dbv[c] = sumDy;
      dgv[c] = sumDyXhat;
      for (let r = 0; r < rows; r++) {
        const xhat = (xv[r * channels + c] - mv[c]) * sv[c];
        dxv[r * channels + c] = ((gv[c] * sv[c]) / rows) * (rows * dyv[r * channels + c] - sumDy - xhat * sumDyXhat);
      }
    }
  }

  adamUpdate(param: Storage, grad: Storage, m: Storage, v: Storage, a: AdamArgs): void {
    const [pv, gv, mv, vv] = [f32(param), f32(grad), f32(m), f32(v)];
    const lrT = (a.lr * Math.sqrt(1 - a.beta2 ** a.step)) / (1 - a.beta1 ** a.step);
    for (let i = 0; i < pv.length; i++) {
      mv[i] = a.beta1 * mv[i] + (1 - a.beta1) * gv[i];
      vv[i] = a.beta2 * vv[i] + (1 - a.beta2) * gv[i] * gv[i];
      pv[i] -= lrT * (mv[i] / (Math.sqrt(vv[i]) + a.epsilon)) + a.lr * a.weightDecay * pv[i];
    }
  }

  adagradUpdate(param: Storage, grad: Storage, accum: Storage, lr: number, epsilon: number): void {
    const [pv, gv, av] = [f32(param), f32(grad), f32(accum)];
    for (let i = 0; i < pv.length; i++) {
      av[i] += gv[i] * gv[i];
      pv[i] -= (lr * gv[i]) / (Math.sqrt(av[i]) + epsilon);
    }
  }

  rmspropUpdate(param: Storage, grad: Storage, meanSquare: Storage, lr: number, rho: number, epsilon: number): void {
    const [pv, gv, msv] = [f32(param), f32(grad), f32(meanSquare)];
    for (let i = 0; i < pv.length; i++) {
      msv[i] = rho * msv[i] + (1 - rho) * gv[i] * gv[i];
      pv[i] -= (lr * gv[i]) / (Math.sqrt(msv[i]) + epsilon);
    }
  }

  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, lr: number, momentum: number, nesterov: boolean): void {
    const [pv, gv] = [f32(param), f32(grad)];
    const vel = velocity ? f32(velocity) : null;
    for (let i = 0; i < pv.length; i++) {
      if (!vel) {
        pv[i] -= lr * gv[i];
        continue;
      }
      vel[i] = momentum * vel[i] - lr * gv[i];
      pv[i] += nesterov ? momentum * vel[i] - lr * gv[i] : vel[i];
    }
  }
}
