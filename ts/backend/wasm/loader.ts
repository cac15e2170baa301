/**
 * Picks a wasm variant for this platform, instantiates it and, for the threads builds, starts the rayon
 * pool's workers. Platform specifics (how to get the module, how to start a worker) come from a `Platform`.
 */
import * as simd from '../../../pkg/simd/kiln_wasm.js';
import * as simdRelaxed from '../../../pkg/simd-relaxed/kiln_wasm.js';
import * as threads from '../../../pkg/threads/kiln_wasm.js';
import * as threadsRelaxed from '../../../pkg/threads-relaxed/kiln_wasm.js';
import { BackendError, ValueError, describe } from '../../errors.js';
import { WasmBackend } from './backend.js';

export const VARIANTS = ['simd', 'simd-relaxed', 'threads', 'threads-relaxed'] as const;
export type Variant = (typeof VARIANTS)[number];

/** A geometry object built in wasm memory (conv or pool shapes). */
export interface ShapeHandle {
  free(): void;
}

type Ptr = number;

/** What every variant's wasm-bindgen module exports (see crates/kiln-wasm/src). */
export interface KernelModule {
  initSync(options: { module: WebAssembly.Module; memory?: WebAssembly.Memory }): unknown;
  alloc_f32(len: number): Ptr;
  free_f32(ptr: Ptr, len: number): void;
  allocated_bytes(): number;
  linear_memory(): WebAssembly.Memory;
  variant(): string;
  thread_count(): number;
  gemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Ptr, aLen: number, lda: number, b: Ptr, bLen: number, ldb: number,
    beta: number, c: Ptr, cLen: number, ldc: number,
  ): void;
  unary(op: number, x: Ptr, out: Ptr, len: number): void;
  activation_grad(op: number, y: Ptr, dy: Ptr, dx: Ptr, len: number): void;
  binary(op: number, a: Ptr, aLen: number, b: Ptr, bLen: number, out: Ptr): void;
  leaky_relu(x: Ptr, len: number, alpha: number, y: Ptr): void;
  leaky_relu_grad(y: Ptr, len: number, alpha: number, dy: Ptr, dx: Ptr): void;
  copy_blocks(
    outer: number, inner: number, width: number,
    src: Ptr, srcLen: number, srcOffset: number, srcOuter: number, srcInner: number,
    dst: Ptr, dstLen: number, dstOffset: number, dstOuter: number, dstInner: number,
  ): void;
  affine(x: Ptr, len: number, alpha: number, beta: number, out: Ptr): void;
  fill(out: Ptr, len: number, value: number): void;
  bytes_to_f32(bytes: Uint8Array, divisor: number, out: Ptr, outLen: number): void;
  count_non_finite(ptrs: Uint32Array, lens: Uint32Array, out: Ptr): void;
  sum_rows(x: Ptr, rows: number, cols: number, out: Ptr): void;
  sum_cols(x: Ptr, rows: number, cols: number, out: Ptr): void;
  softmax_rows(x: Ptr, rows: number, cols: number, out: Ptr): void;
  log_softmax_rows(x: Ptr, rows: number, cols: number, out: Ptr): void;
  softmax_cross_entropy(logits: Ptr, labels: Ptr, rows: number, classes: number, grad: Ptr): number;
  binary_cross_entropy(prediction: Ptr, target: Ptr, len: number, fromLogits: boolean, grad: Ptr): number;
  Conv2dShape: new (
    batch: number, inH: number, inW: number, inC: number, outC: number, kH: number, kW: number,
    strideH: number, strideW: number, dilationH: number, dilationW: number, same: boolean,
  ) => ShapeHandle;
  conv2d(s: ShapeHandle, x: Ptr, filter: Ptr, bias: Ptr, relu: boolean, out: Ptr): void;
  conv2d_backward(s: ShapeHandle, x: Ptr, filter: Ptr, reluOutput: Ptr, dy: Ptr, dx: Ptr, dFilter: Ptr, dBias: Ptr): void;
  conv2d_max_pool(s: ShapeHandle, pool: ShapeHandle, x: Ptr, filter: Ptr, bias: Ptr, relu: boolean, out: Ptr, winners: Ptr): void;
  conv2d_max_pool_backward(s: ShapeHandle, pool: ShapeHandle, x: Ptr, filter: Ptr, dy: Ptr, winners: Ptr, dx: Ptr, dFilter: Ptr, dBias: Ptr): void;
  Pool2dShape: new (
    batch: number, inH: number, inW: number, channels: number, poolH: number, poolW: number,
    strideH: number, strideW: number, same: boolean,
  ) => ShapeHandle;
  max_pool2d(s: ShapeHandle, x: Ptr, out: Ptr): void;
  max_pool2d_backward(s: ShapeHandle, x: Ptr, y: Ptr, dy: Ptr, dx: Ptr): void;
  avg_pool2d(s: ShapeHandle, x: Ptr, out: Ptr): void;
  avg_pool2d_backward(s: ShapeHandle, dy: Ptr, dx: Ptr): void;
  dropout(x: Ptr, len: number, rate: number, seed: number, y: Ptr, mask: Ptr): void;
  batch_norm_update_moving(mean: Ptr, invStd: Ptr, channels: number, epsilon: number, momentum: number, movingMean: Ptr, movingVariance: Ptr): void;
  batch_norm_train(x: Ptr, rows: number, channels: number, gamma: Ptr, beta: Ptr, epsilon: number, y: Ptr, mean: Ptr, invStd: Ptr): void;
  batch_norm_inference(x: Ptr, rows: number, channels: number, gamma: Ptr, beta: Ptr, movingMean: Ptr, movingVar: Ptr, epsilon: number, y: Ptr): void;
  batch_norm_backward(x: Ptr, dy: Ptr, rows: number, channels: number, gamma: Ptr, mean: Ptr, invStd: Ptr, dx: Ptr, dGamma: Ptr, dBeta: Ptr): void;
  adam_update(param: Ptr, grad: Ptr, m: Ptr, v: Ptr, len: number, lr: number, beta1: number, beta2: number, epsilon: number, step: number, weightDecay: number): void;
  sgd_update(param: Ptr, grad: Ptr, velocity: Ptr, len: number, lr: number, momentum: number, nesterov: boolean): void;
  adagrad_update(param: Ptr, grad: Ptr, accum: Ptr, len: number, lr: number, epsilon: number): void;
  rmsprop_update(param: Ptr, grad: Ptr, meanSquare: Ptr, len: number, lr: number, rho: number, epsilon: number): void;
}

/** The threads builds also export the pool's hand-off points (see crates/kiln-wasm/src/pool.rs). */
export interface ThreadedKernelModule extends KernelModule {
  PoolBuilder: new (threads: number) => { workers(): number; receiver(): number; build(): void };
  start_worker(receiver: number): void;
}

export const kernelModules: Record<Variant, KernelModule> = {
  simd,
  'simd-relaxed': simdRelaxed,
  threads,
  'threads-relaxed': threadsRelaxed,
};

export const isThreaded = (variant: Variant) => variant.startsWith('threads');

/** How one platform (Node, browser, edge) provides modules and workers. */
export interface Platform {
  readonly name: string;
  /** Why threads cannot run here, or null when they can. */
  threadsUnavailable(): string | null;
  defaultThreads(): number;
  /** Whether the engine runs relaxed-SIMD modules (Node: after switching V8's flag on). */
  relaxedSimdAvailable(): Promise<boolean>;
  compile(variant: Variant): Promise<WebAssembly.Module>;
  /** Starts `count` workers that instantiate `module` over `memory` and call `start_worker(receiver)`. */
  startWorkers(variant: Variant, module: WebAssembly.Module, memory: WebAssembly.Memory, receiver: number, count: number): Promise<void>;
}

export interface WasmOptions {
  /** Threads for the rayon pool; default: the platform's core count. 1 selects a single-threaded build. */
  threads?: number;
  /** Force a variant instead of detecting the best one. */
  variant?: Variant;
  /** Allow relaxed-SIMD builds when the engine supports them (default true). */
  relaxedSimd?: boolean;
}

/** A module with one relaxed-SIMD instruction (f32x4.relaxed_madd), to ask the engine whether it validates. */
function relaxedSimdProbe(): Uint8Array<ArrayBuffer> {
  const v128Const = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const body = [0x00, ...v128Const, ...v128Const, ...v128Const, 0xfd, 0x85, 0x02, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00, // one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body,
  ]);
}

export const validatesRelaxedSimd = () => WebAssembly.validate(relaxedSimdProbe());

const loaded = new Map<Variant, Promise<WasmBackend>>();

export async function loadWasmBackend(platform: Platform, options: WasmOptions = {}): Promise<WasmBackend> {
  const requested = options.threads ?? platform.defaultThreads();
  if (!Number.isInteger(requested) || requested < 1) {
    throw new ValueError(`ready(): threads must be a positive integer, got ${describe(options.threads)}`);
  }
  if (options.variant !== undefined && !VARIANTS.includes(options.variant)) {
    throw new ValueError(`ready(): variant must be one of ${VARIANTS.join(', ')}, got ${describe(options.variant)}`);
  }
  const reasons: string[] = [];
  let useThreads = options.variant ? isThreaded(options.variant) : requested > 1;
  const noThreads = useThreads ? platform.threadsUnavailable() : null;
  if (noThreads !== null) {
    if (options.variant) throw new BackendError(`ready(): variant '${options.variant}' needs threads: ${noThreads}`);
    reasons.push(`single-threaded: ${noThreads}`);
    useThreads = false;
  }
  let relaxed = options.variant ? options.variant.endsWith('-relaxed') : options.relaxedSimd !== false;
  if (relaxed && !(await platform.relaxedSimdAvailable())) {
    if (options.variant) throw new BackendError(`ready(): variant '${options.variant}' needs relaxed SIMD, which this engine rejects`);
    reasons.push('no relaxed SIMD: the engine rejects it');
    relaxed = false;
  }
  const variant = `${useThreads ? 'threads' : 'simd'}${relaxed ? '-relaxed' : ''}` as Variant;
  const threadCount = useThreads ? requested : 1;

  let started = loaded.get(variant);
  if (!started) {
    started = instantiate(platform, variant, threadCount);
    loaded.set(variant, started);
    started.catch(() => loaded.delete(variant)); // a failed start can be retried
  }
  const backend = await started;
  const running = backend.info().threads;
  if (running !== threadCount) {
    reasons.push(`the ${variant} pool already runs ${running} threads (it starts once per process)`);
  }
  backend.reason = reasons.length > 0 ? reasons.join('; ') : undefined;
  return backend;
}

async function instantiate(platform: Platform, variant: Variant, threadCount: number): Promise<WasmBackend> {
  const module = await platform.compile(variant);
  const kernels = kernelModules[variant];
  kernels.initSync({ module });
  const memory = kernels.linear_memory();
  if (isThreaded(variant)) {
    const pool = new (kernels as ThreadedKernelModule).PoolBuilder(threadCount);
    await platform.startWorkers(variant, module, memory, pool.receiver(), pool.workers());
    pool.build();
    // The pool builder stays alive: workers read its channel until each has taken its thread.
    keepAlive.push(pool);
  }
  return new WasmBackend(kernels, memory, platform.name);
}

const keepAlive: unknown[] = [];
