/** The wasm backend: tensors are buffers in the module's linear memory; ops call the Rust kernels. */
import type {
  ActivationGradOp, AdamArgs, Backend, Blocks, BackendInfo, BinaryOp, Conv2dBackwardArgs, Conv2dGeometry, GemmArgs, MemoryInfo,
  Pool2dGeometry, Storage, StorageDType, UnaryOp,
} from '../backend.js';
import { OutOfMemoryError, ValueError } from '../../errors.js';
import { WASM32_BYTES } from '../backend.js';
import type { KernelModule, ShapeHandle } from './loader.js';

class WasmStorage implements Storage {
  constructor(
    readonly ptr: number,
    readonly size: number,
    readonly dtype: StorageDType,
  ) {}
}

const ptr = (s: Storage) => (s as WasmStorage).ptr;
const ptrOrNull = (s: Storage | null) => (s ? ptr(s) : 0);

const UNARY: Record<UnaryOp, number> = { neg: 0, exp: 1, log: 2, sqrt: 3, square: 4, relu: 5, sigmoid: 6, tanh: 7 };
const ACTIVATION_GRAD: Record<ActivationGradOp, number> = { relu: 0, sigmoid: 1, tanh: 2 };
const BINARY: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  /** Why a faster variant or more threads were not used (set by the loader on each `ready()`). */
  reason?: string;
  /** Geometry objects live in wasm memory; a model uses a handful, so they are made once each. */
  private readonly shapes = new Map<string, ShapeHandle>();

  constructor(
    private readonly kernels: KernelModule,
    private readonly linearMemory: WebAssembly.Memory,
    private readonly platform: string,
  ) {}

  info(): BackendInfo {
    return {
      backend: this.name,
      variant: this.kernels.variant(),
      threads: this.kernels.thread_count(),
      platform: this.platform,
      ...(this.reason ? { reason: this.reason } : {}),
    };
  }

  allocate(size: number, dtype: StorageDType = 'float32'): Storage {
    const bytes = size * 4;
    const { liveBytes, heapBytes } = this.memory();
    const available = WASM32_BYTES - liveBytes;
    const refuse = (why: string) =>
      new OutOfMemoryError(`${bytes.toLocaleString('en-US')} bytes needed, ${why} (heap ${heapBytes.toLocaleString('en-US')} bytes, ${liveBytes.toLocaleString('en-US')} of them live)`);
    // Checked here: the size travels to wasm as a u32 and a byte count past 4 GiB would wrap.
    if (bytes > available) throw refuse(`at most ${available.toLocaleString('en-US')} available (wasm32 addresses 4 GiB)`);
    const address = this.kernels.alloc_f32(size);
    if (address === 0) throw refuse('the engine grants no more memory');
    return new WasmStorage(address, size, dtype);
  }

  free(storage: Storage): void {
    this.kernels.free_f32(ptr(storage), storage.size);
  }

  /** A view into linear memory; made fresh each time because memory growth replaces the buffer. */
  private view(storage: Storage): Float32Array | Int32Array {
    const Typed = storage.dtype === 'int32' ? Int32Array : Float32Array;
    return new Typed(this.linearMemory.buffer, ptr(storage), storage.size);
  }

  write(storage: Storage, values: Float32Array | Int32Array): void {
    this.view(storage).set(values);
  }

  writeBytes(storage: Storage, bytes: Uint8Array, divisor: number): void {
    this.kernels.bytes_to_f32(bytes, divisor, ptr(storage), storage.size);
  }

  copy(src: Storage, dst: Storage): void {
    new Uint8Array(this.linearMemory.buffer, ptr(dst), dst.size * 4).set(new Uint8Array(this.linearMemory.buffer, ptr(src), src.size * 4));
  }

  async read(storage: Storage): Promise<Float32Array | Int32Array> {
    return this.readSync(storage);
  }

  readSync(storage: Storage): Float32Array | Int32Array {
    return this.view(storage).slice();
  }

  memory(): MemoryInfo {
    return { liveBytes: this.kernels.allocated_bytes(), heapBytes: this.linearMemory.buffer.byteLength };
  }

  gemm({ transA, transB, m, n, k, alpha, a, b, beta, c }: GemmArgs): void {
    const lda = Math.max(1, transA ? m : k);
    const ldb = Math.max(1, transB ? k : n);
    const ldc = Math.max(1, n);
    this.kernels.gemm(transA, transB, m, n, k, alpha, ptr(a), a.size, lda, ptr(b), b.size, ldb, beta, ptr(c), c.size, ldc);
  }

  unary(op: UnaryOp, x: Storage, out: Storage): void {
    this.kernels.unary(UNARY[op], ptr(x), ptr(out), x.size);
  }

  activationGrad(op: ActivationGradOp, y: Storage, dy: Storage, dx: Storage): void {
    this.kernels.activation_grad(ACTIVATION_GRAD[op], ptr(y), ptr(dy), ptr(dx), y.size);
  }

  leakyRelu(x: Storage, alpha: number, y: Storage): void {
    this.kernels.leaky_relu(ptr(x), x.size, alpha, ptr(y));
  }

  leakyReluGrad(y: Storage, alpha: number, dy: Storage, dx: Storage): void {
    this.kernels.leaky_relu_grad(ptr(y), y.size, alpha, ptr(dy), ptr(dx));
  }

  copyBlocks(outer: number, inner: number, width: number, src: Storage, from: Blocks, dst: Storage, to: Blocks): void {
    this.kernels.copy_blocks(outer, inner, width, ptr(src), src.size, from.offset, from.outerStride, from.innerStride, ptr(dst), dst.size, to.offset, to.outerStride, to.innerStride);
  }

  binary(op: BinaryOp, a: Storage, b: Storage, out: Storage): void {
    this.kernels.binary(BINARY[op], ptr(a), a.size, ptr(b), b.size, ptr(out));
  }

  fill(out: Storage, value: number): void {
    this.kernels.fill(ptr(out), out.size, value);
  }

  affine(x: Storage, alpha: number, beta: number, out: Storage): void {
    this.kernels.affine(ptr(x), x.size, alpha, beta, ptr(out));
  }

  countNonFinite(inputs: Storage[], out: Storage): void {
    this.kernels.count_non_finite(Uint32Array.from(inputs, ptr), Uint32Array.from(inputs, (s) => s.size), ptr(out));
  }

  sumRows(x: Storage, rows: number, cols: number, out: Storage): void {
    this.kernels.sum_rows(ptr(x), rows, cols, ptr(out));
  }

  sumCols(x: Storage, rows: number, cols: number, out: Storage): void {
    this.kernels.sum_cols(ptr(x), rows, cols, ptr(out));
  }

  softmaxRows(x: Storage, rows: number, cols: number, out: Storage): void {
    this.kernels.softmax_rows(ptr(x), rows, cols, ptr(out));
  }

  logSoftmaxRows(x: Storage, rows: number, cols: number, out: Storage): void {
    this.kernels.log_softmax_rows(ptr(x), rows, cols, ptr(out));
  }

  softmaxCrossEntropy(logits: Storage, labels: Storage, rows: number, classes: number, gradLogits: Storage): number {
    try {
      return this.kernels.softmax_cross_entropy(ptr(logits), ptr(labels), rows, classes, ptr(gradLogits));
    } catch (error) {
      throw new ValueError(`softmaxCrossEntropy(): ${(error as Error).message}`); // a label out of range
    }
  }

  binaryCrossEntropy(prediction: Storage, target: Storage, fromLogits: boolean, grad: Storage): number {
    return this.kernels.binary_cross_entropy(ptr(prediction), ptr(target), prediction.size, fromLogits, ptr(grad));
  }

  private convShape(g: Conv2dGeometry): ShapeHandle {
    const key = `c${g.batch},${g.inH},${g.inW},${g.inC},${g.outC},${g.kH},${g.kW},${g.strideH},${g.strideW},${g.dilationH},${g.dilationW},${g.padding}`;
    let shape = this.shapes.get(key);
    if (!shape) {
      shape = new this.kernels.Conv2dShape(g.batch, g.inH, g.inW, g.inC, g.outC, g.kH, g.kW, g.strideH, g.strideW, g.dilationH, g.dilationW, g.padding === 'same');
      this.shapes.set(key, shape);
    }
    return shape;
  }

  private poolShape(g: Pool2dGeometry): ShapeHandle {
    const key = `p${g.batch},${g.inH},${g.inW},${g.channels},${g.poolH},${g.poolW},${g.strideH},${g.strideW},${g.padding}`;
    let shape = this.shapes.get(key);
    if (!shape) {
      shape = new this.kernels.Pool2dShape(g.batch, g.inH, g.inW, g.channels, g.poolH, g.poolW, g.strideH, g.strideW, g.padding === 'same');
      this.shapes.set(key, shape);
    }
    return shape;
  }

  conv2d(g: Conv2dGeometry, x: Storage, filter: Storage, bias: Storage | null, relu: boolean, out: Storage): void {
    this.kernels.conv2d(this.convShape(g), ptr(x), ptr(filter), ptrOrNull(bias), relu, ptr(out));
  }

  conv2dBackward(g: Conv2dGeometry, { x, filter, reluOutput, dy, maxPool, dx, dFilter, dBias }: Conv2dBackwardArgs): void {
    if (maxPool) {
      this.kernels.conv2d_max_pool_backward(this.convShape(g), this.poolShape(maxPool.g), ptr(x), ptr(filter), ptr(dy), ptr(maxPool.winners), ptrOrNull(dx), ptr(dFilter), ptrOrNull(dBias));
      return;
    }
    this.kernels.conv2d_backward(this.convShape(g), ptr(x), ptr(filter), ptrOrNull(reluOutput), ptr(dy), ptrOrNull(dx), ptr(dFilter), ptrOrNull(dBias));
  }

  conv2dMaxPool(g: Conv2dGeometry, pool: Pool2dGeometry, x: Storage, filter: Storage, bias: Storage | null, relu: boolean, out: Storage, winners: Storage): void {
    this.kernels.conv2d_max_pool(this.convShape(g), this.poolShape(pool), ptr(x), ptr(filter), ptrOrNull(bias), relu, ptr(out), ptr(winners));
  }

  maxPool(g: Pool2dGeometry, x: Storage, out: Storage): void {
    this.kernels.max_pool2d(this.poolShape(g), ptr(x), ptr(out));
  }

  maxPoolBackward(g: Pool2dGeometry, x: Storage, y: Storage, dy: Storage, dx: Storage): void {
    this.kernels.max_pool2d_backward(this.poolShape(g), ptr(x), ptr(y), ptr(dy), ptr(dx));
  }

  avgPool(g: Pool2dGeometry, x: Storage, out: Storage): void {
    this.kernels.avg_pool2d(this.poolShape(g), ptr(x), ptr(out));
  }

  avgPoolBackward(g: Pool2dGeometry, dy: Storage, dx: Storage): void {
    this.kernels.avg_pool2d_backward(this.poolShape(g), ptr(dy), ptr(dx));
  }

  dropout(x: Storage, rate: number, seed: number, y: Storage, mask: Storage): void {
    this.kernels.dropout(ptr(x), x.size, rate, seed, ptr(y), ptr(mask));
  }

  batchNormUpdateMoving(mean: Storage, invStd: Storage, epsilon: number, momentum: number, movingMean: Storage, movingVariance: Storage): void {
    this.kernels.batch_norm_update_moving(ptr(mean), ptr(invStd), mean.size, epsilon, momentum, ptr(movingMean), ptr(movingVariance));
  }

  batchNormTrain(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, epsilon: number, y: Storage, mean: Storage, invStd: Storage): void {
    this.kernels.batch_norm_train(ptr(x), rows, channels, ptr(gamma), ptr(beta), epsilon, ptr(y), ptr(mean), ptr(invStd));
  }

  batchNormInference(x: Storage, rows: number, channels: number, gamma: Storage, beta: Storage, movingMean: Storage, movingVar: Storage, epsilon: number, y: Storage): void {
    this.kernels.batch_norm_inference(ptr(x), rows, channels, ptr(gamma), ptr(beta), ptr(movingMean), ptr(movingVar), epsilon, ptr(y));
  }

  batchNormBackward(x: Storage, dy: Storage, rows: number, channels: number, gamma: Storage, mean: Storage, invStd: Storage, dx: Storage, dGamma: Storage, dBeta: Storage): void {
    this.kernels.batch_norm_backward(ptr(x), ptr(dy), rows, channels, ptr(gamma), ptr(mean), ptr(invStd), ptr(dx), ptr(dGamma), ptr(dBeta));
  }

  adamUpdate(param: Storage, grad: Storage, m: Storage, v: Storage, a: AdamArgs): void {
    this.kernels.adam_update(ptr(param), ptr(grad), ptr(m), ptr(v), param.size, a.lr, a.beta1, a.beta2, a.epsilon, a.step, a.weightDecay);
  }

  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, lr: number, momentum: number, nesterov: boolean): void {
    this.kernels.sgd_update(ptr(param), ptr(grad), ptrOrNull(velocity), param.size, lr, momentum, nesterov);
  }

  adagradUpdate(param: Storage, grad: Storage, accum: Storage, lr: number, epsilon: number): void {
    this.kernels.adagrad_update(ptr(param), ptr(grad), ptr(accum), param.size, lr, epsilon);
  }

  rmspropUpdate(param: Storage, grad: Storage, meanSquare: Storage, lr: number, rho: number, epsilon: number): void {
    this.kernels.rmsprop_update(ptr(param), ptr(grad), ptr(meanSquare), param.size, lr, rho, epsilon);
  }
}
