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

/** What every variant's wasm-bindgen module exports. */
export interface KernelModule {
  initSync(options: { module: WebAssembly.Module; memory?: WebAssembly.Memory }): unknown;
  alloc_f32(len: number): number;
  free_f32(ptr: number, len: number): void;
  allocated_bytes(): number;
  linear_memory(): WebAssembly.Memory;
  variant(): string;
  thread_count(): number;
  gemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: number, aLen: number, lda: number, b: number, bLen: number, ldb: number,
    beta: number, c: number, cLen: number, ldc: number,
  ): void;
}

/** The threads builds also export the pool's hand-off points (see crates/kiln-wasm/src/pool.rs). */
export interface ThreadedKernelModule extends KernelModule {
  PoolBuilder: new (threads: number) => { receiver(): number; build(): void };
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
    await platform.startWorkers(variant, module, memory, pool.receiver(), threadCount);
    pool.build();
    // The pool builder stays alive: workers read its channel until each has taken its thread.
    keepAlive.push(pool);
  }
  return new WasmBackend(kernels, memory, platform.name);
}

const keepAlive: unknown[] = [];
