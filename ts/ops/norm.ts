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
  updateMovingAverages(state, mean, invStd);
  return record(y, [x, gamma, beta], (dy) => {
    const dx = allocateTensor(backend, x.shape);
    const dGamma = allocateTensor(backend, gamma.shape);
    const dBeta = allocateTensor(backend, beta.shape);
    backend.batchNormBackward(x.storage, dy.storage, rows, channels, gamma.storage, mean.storage, invStd.storage, dx.storage, dGamma.storage, dBeta.storage);
    return [dx, dGamma, dBeta];
  });
}

/** moving = momentum·moving + (1 − momentum)·batch, with the batch variance recovered as 1/invStd² − ε. */
function updateMovingAverages(state: BatchNormState, mean: Tensor, invStd: Tensor): void {
  const { movingMean, movingVariance, momentum, epsilon } = state;
  const [m, s] = [mean.dataSync(), invStd.dataSync()];
  const [mm, mv] = [movingMean.dataSync(), movingVariance.dataSync()];
  for (let c = 0; c < m.length; c++) {
    mm[c] = momentum * mm[c] + (1 - momentum) * m[c];
    mv[c] = momentum * mv[c] + (1 - momentum) * (1 / (s[c] * s[c]) - epsilon);
  }
  movingMean.backend.write(movingMean.storage, mm);
  movingVariance.backend.write(movingVariance.storage, mv);
}
