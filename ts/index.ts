/** kiln's public surface, the same on every platform; each platform entry adds `ready()`. */
export { Tensor, scope, keep, type DType, type Shape } from './tensor.js';
export { tensor, zeros, matMul, gemm, type GemmOptions } from './ops.js';
export { backendInfo, memory } from './backend/registry.js';
export type { Backend, BackendInfo, MemoryInfo, Storage, GemmArgs } from './backend/backend.js';
export type { ReadyOptions } from './backend/ready.js';
export type { Variant } from './backend/wasm/loader.js';
export { KilnError, ShapeError, DTypeError, ValueError, DisposedError, BackendError } from './errors.js';
