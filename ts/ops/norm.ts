/** Batch normalization over the last axis (channels of NHWC), with its gradient. */
import { record } from '../autograd/tape.js';
import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { allocateTensor, assertTensor, sameBackend } from './validate.js';

export interface BatchNormState {
  movingMean: Tensor;
  movingVariance: Tensor;
  /** Moving averages keep this share of their old value each training step (Keras: 0.99). */
  momentum: number;
  epsilon: number;
}

/**
 * Training: normalizes with the batch's mean and variance and updates the moving averages in `state`;
 * inference: uses the moving averages. `gamma` scales and `beta` shifts each channel.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, state: BatchNormState, training: boolean): Tensor {
  const op = 'batchNorm()';
  for (const [name, t] of [['x', x], ['gamma', gamma], ['beta', beta]] as const) assertTensor(op, name, t);
  const channels = x.shape[x.rank - 1];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.size !== channels) throw new ShapeError(`${op}: ${name} must have ${channels} values (the last axis of x [${x.shape}]), got [${t.shape}]`);
  }
  const backend = sameBackend(op, x, gamma, beta);
  const rows = x.size / channels;
  const y = allocateTensor(backend, x.shape);
  if (!training) {
    backend.batchNormInference(x.storage, rows, channels, gamma.storage, beta.storage, state.movingMean.storage, state.movingVariance.storage, state.epsilon, y.storage);
    return y;
  }
  const mean = allocateTensor(backend, [channels]);
  const invStd = allocateTensor(backend, [channels]);
  backend.batchNormTrain(x.storage, rows, channels, gamma.storage, beta.storage, state.epsilon, y.storage, mean.storage, invStd.storage);
  backend.batchNormUpdateMoving(mean.storage, invStd.storage, state.epsilon, state.momentum, state.movingMean.storage, state.movingVariance.storage);
  return record(y, [x, gamma, beta], (dy) => {
    const dx = allocateTensor(backend, x.shape);
    const dGamma = allocateTensor(backend, gamma.shape);
    const dBeta = allocateTensor(backend, beta.shape);
    backend.batchNormBackward(x.storage, dy.storage, rows, channels, gamma.storage, mean.storage, invStd.storage, dx.storage, dGamma.storage, dBeta.storage);
    return [dx, dGamma, dBeta];
  });
}
