/**
 * The one interface every backend implements (wasm, reference, later webgpu). Layers, autograd and ops call
 * only this; they never branch on which backend runs. Arguments arrive already validated by `ts/ops/`.
 * Activations are NHWC; conv filters are HWIO `[kh, kw, inC, outC]` (as Keras).
 */

export type StorageDType = 'float32' | 'int32';

/** Opaque handle to a backend's buffer (wasm: an address in linear memory). */
export interface Storage {
  readonly size: number;
  readonly dtype: StorageDType;
}

export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Storage;
  b: Storage;
  beta: number;
  /** Output; read when beta ≠ 0. Row-major with leading dimension n. */
  c: Storage;
}

export type Padding = 'valid' | 'same';

/** Everything a conv2d kernel needs to know; computed once by `conv2dGeometry()` in ts/ops/geometry.ts. */
export interface Conv2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padding: Padding;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/** In conv2dMaxPool's winners: a pooled value whose window passes no gradient (ReLU zeroed all of it). */
export const NO_WINNER = 255;

/** Elements of the int32 storage that holds conv2dMaxPool's winners, one byte per pooled value. */
export function winnerStorageSize(pool: Pool2dGeometry): number {
  return Math.ceil((pool.batch * pool.outH * pool.outW * pool.channels) / 4);
}

export interface Pool2dGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  poolH: number;
  poolW: number;
  strideH: number;
  strideW: number;
  padding: Padding;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'square' | 'relu' | 'sigmoid' | 'tanh';
/** Activations whose gradient is computed from the forward output y (relu: y > 0). */
export type ActivationGradOp = 'relu' | 'sigmoid' | 'tanh';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';

export interface AdamArgs {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1-based step count, for bias correction. */
  step: number;
  /** Decoupled weight decay (AdamW); 0 for Adam. */
  weightDecay: number;
}

export interface MemoryInfo {
  /** Bytes held by live tensor buffers. */
  liveBytes: number;
  /** Size of the backend's heap (wasm linear memory); `liveBytes` for backends without one. */
  heapBytes: number;
}

export interface BackendInfo {
  backend: string;
  /** wasm build in use: 'simd', 'threads', 'simd-relaxed', 'threads-relaxed'; the backend name otherwise. */
  variant: string;
  threads: number;
  /** 'node', 'browser' or 'edge' for wasm. */
  platform?: string;
  /** Why a faster variant or more threads could not be used, if so. */
  reason?: string;
  /** Whether tensors that are garbage-collected undisposed are freed (needs FinalizationRegistry). */
  gcSafetyNet?: boolean;
}

export interface Conv2dBackwardArgs {
  x: Storage;
  filter: Storage;
  /** conv2d's output when it applied ReLU; null otherwise and after conv2dMaxPool. */
  reluOutput: Storage | null;
  /** Gradient of the output (of the pooled output after conv2dMaxPool). */
  dy: Storage;
  /** After conv2dMaxPool: its pooling and the winners it recorded. */
  maxPool?: { g: Pool2dGeometry; winners: Storage } | null;
  dx: Storage | null;
  dFilter: Storage;
  dBias: Storage | null;
}

/** `outer × inner` blocks of `width` values at `offset + o·outerStride + i·innerStride` (see `copyBlocks`). */
export interface Blocks {
  offset: number;
  outerStride: number;
  innerStride: number;
}

/** The largest byte count a wasm32 memory addresses. */
export const WASM32_BYTES = 2 ** 32;

export interface Backend {
  readonly name: string;
  info(): BackendInfo;
  /** A buffer of `size` elements with unspecified contents (kernels overwrite their outputs); `OutOfMemoryError` when it cannot be had. */
  allocate(size: number, dtype?: StorageDType): Storage;
  free(storage: Storage): void;
  write(storage: Storage, values: Float32Array | Int32Array): void;
  /** Writes `bytes[i] / divisor` into a float32 storage of the same length (divisor finite and nonzero). */
  writeBytes(storage: Storage, bytes: Uint8Array, divisor: number): void;
  /** Copies all of `src` into `dst` (same size and dtype). */
  copy(src: Storage, dst: Storage): void;
  read(storage: Storage): Promise<Float32Array | Int32Array>;
  /** Present only where the backend can read without waiting (wasm, reference; not webgpu). */
  readSync?(storage: Storage): Float32Array | Int32Array;
  memory(): MemoryInfo;

  /** C = alpha·op(A)·op(B) + beta·C, row-major, leading dimensions from the shapes. */
  gemm(args: GemmArgs): void;
  /** out = op(x), elementwise. */
  unary(op: UnaryOp, x: Storage, out: Storage): void;
  /** dx = dy · op'(from y), where y is the activation's output. */
  activationGrad(op: ActivationGradOp, y: Storage, dy: Storage, dx: Storage): void;
  /** y = x where positive, alpha·x elsewhere (alpha ≥ 0). */
  leakyRelu(x: Storage, alpha: number, y: Storage): void;
  /** dx = dy where the forward output y is positive, alpha·dy elsewhere. */
  leakyReluGrad(y: Storage, alpha: number, dy: Storage, dx: Storage): void;
  /** Copies block (o, i) of `src` (at `from`) to block (o, i) of `dst` (at `to`) for o < outer, i < inner. */
  copyBlocks(outer: number, inner: number, width: number, src: Storage, from: Blocks, dst: Storage, to: Blocks): void;
  /** out = a ∘ b, where b is either a's size or repeats along a (b.size divides a.size: bias over rows). */
  binary(op: BinaryOp, a: Storage, b: Storage, out: Storage): void;
  /** Sets every element of `out` to `value`. */
  fill(out: Storage, value: number): void;
  /** out = alpha·x + beta. */
  affine(x: Storage, alpha: number, beta: number, out: Storage): void;
  /** out[0] = how many values of all `inputs` together are NaN or ±∞ (a training step checks its gradients). */
  countNonFinite(inputs: Storage[], out: Storage): void;
  /** out[cols] = Σ over rows of x[rows, cols] (bias gradients, broadcast reductions). */
  sumRows(x: Storage, rows: number, cols: number, out: Storage): void;
  /** out[rows] = Σ over cols of x[rows, cols]. */
  sumCols(x: Storage, rows: number, cols: number, out: Storage): void;
  /** Numerically stable softmax over each row. */
  softmaxRows(x: Storage, rows: number, cols: number, out: Storage): void;
  /** Numerically stable log-softmax over each row. */
  logSoftmaxRows(x: Storage, rows: number, cols: number, out: Storage): void;
  /** Mean sparse softmax cross-entropy of logits[rows, classes]; writes d(mean loss)/d(logits). */
  softmaxCrossEntropy(logits: Storage, labels: Storage, rows: number, classes: number, gradLogits: Storage): number;

  /**
   * Mean binary cross-entropy of probabilities (clipped to [1e-7, 1 − 1e-7] as Keras does; no gradient where
   * clipped) or, with `fromLogits`, of sigmoid(logits) in a stable form; writes d(mean loss)/d(prediction).
   */
  binaryCrossEntropy(prediction: Storage, target: Storage, fromLogits: boolean, grad: Storage): number;

  /** out = act(conv(x, filter) + bias), with `relu` as the activation or none. */
  conv2d(g: Conv2dGeometry, x: Storage, filter: Storage, bias: Storage | null, relu: boolean, out: Storage): void;
  /** Gradients of conv2d (each overwritten; dx and dBias skipped when null); `reluOutput` is conv2d's output when it applied ReLU. */
  conv2dBackward(g: Conv2dGeometry, args: Conv2dBackwardArgs): void;
  /**
   * conv2d then max pooling `pool` (windows that neither overlap nor pad) in one pass, never writing the
   * full-size output: `out` is the pooled output; `winners` (int32 storage of `winnerStorageSize(pool)`
   * elements, one byte per pooled value) records each value's window cell, row-major, or NO_WINNER where ReLU
   * left the window all zeros. conv2dBackward with `maxPool` takes the gradient from there.
   */
  conv2dMaxPool(g: Conv2dGeometry, pool: Pool2dGeometry, x: Storage, filter: Storage, bias: Storage | null, relu: boolean, out: Storage, winners: Storage): void;
  maxPool(g: Pool2dGeometry, x: Storage, out: Storage): void;
  /**
   * Gradient of max pooling from its input `x` and output `y`: each window's `dy` goes to the window's first
   * cell (row-major) whose input equals its output; overlapping windows add up.
   */
  maxPoolBackward(g: Pool2dGeometry, x: Storage, y: Storage, dy: Storage, dx: Storage): void;
  avgPool(g: Pool2dGeometry, x: Storage, out: Storage): void;
  avgPoolBackward(g: Pool2dGeometry, dy: Storage, dx: Storage): void;

  /** Inverted dropout: mask = 1/(1−rate) or 0 per element, drawn from `seed` (u32) and the position; y = x·mask. */
  dropout(x: Storage, rate: number, seed: number, y: Storage, mask: Storage): void;

  /** Batch norm over the last axis with batch statistics; writes the batch mean and 1/√(var + ε) per channel. */
  batchNormTrain(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, epsilon: number, y: Storage, mean: Storage, invStd: Storage): void;
  /** In place: moving = momentum·moving + (1 − momentum)·batch, the batch variance being 1/invStd² − ε. */
  batchNormUpdateMoving(mean: Storage, invStd: Storage, epsilon: number, momentum: number, movingMean: Storage, movingVariance: Storage): void;
  batchNormInference(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, movingMean: Storage, movingVar: Storage, epsilon: number, y: Storage): void;
  batchNormBackward(x: Storage, dy: Storage, rows: number, channels: number, gamma: Storage, mean: Storage, invStd: Storage, dx: Storage, dGamma: Storage, dBeta: Storage): void;

  /** In-place Adam/AdamW update of `param` with `grad`, moments `m` and `v`. */
  adamUpdate(param: Storage, grad: Storage, m: Storage, v: Storage, args: AdamArgs): void;
  /** In-place AdaGrad: accum += g²; param −= lr·g/(√accum + ε). */
  adagradUpdate(param: Storage, grad: Storage, accum: Storage, lr: number, epsilon: number): void;
  /** In-place RMSprop: ms = ρ·ms + (1−ρ)·g²; param −= lr·g/(√ms + ε). */
  rmspropUpdate(param: Storage, grad: Storage, meanSquare: Storage, lr: number, rho: number, epsilon: number): void;
  /** In-place SGD: with a velocity buffer, momentum (and Nesterov). */
  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, lr: number, momentum: number, nesterov: boolean): void;
}
