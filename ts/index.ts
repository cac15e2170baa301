/** kiln's public surface, the same on every platform; each platform entry adds `ready()`. */
export { Tensor, scope, keep, type DType, type Shape } from './tensor.js';
export { tensor, zeros, ones, fill, scalar } from './ops/creation.js';
export { matMul, gemm, type GemmOptions } from './ops/linalg.js';
export { add, sub, mul, div, neg, exp, log, sqrt, square, mulScalar, addScalar, relu, sigmoid, tanh, softmax, logSoftmax } from './ops/elementwise.js';
export { sum, mean } from './ops/reduce.js';
export { reshape } from './ops/shape.js';
export { conv2d, maxPool2d, avgPool2d, type Conv2dOptions, type Pool2dOptions } from './ops/conv.js';
export { softmaxCrossEntropy, meanSquaredError } from './ops/loss.js';
export { valueAndGrads, grad, noGrad } from './autograd/tape.js';
export * as layers from './layers/index.js';
export { sequential, Sequential, NonFiniteLossError, type DataSource, type CompileOptions, type FitOptions, type Callback, type History, type Logs } from './model/sequential.js';
export { Adam, SGD, AdaGrad, RMSprop, type Optimizer } from './optim/optimizers.js';
export * as schedules from './optim/schedules.js';
export { backendInfo, memory } from './backend/registry.js';
export type { Backend, BackendInfo, MemoryInfo, Storage, GemmArgs } from './backend/backend.js';
export type { ReadyOptions } from './backend/ready.js';
export type { Variant } from './backend/wasm/loader.js';
export { KilnError, ShapeError, DTypeError, ValueError, DisposedError, BackendError } from './errors.js';
