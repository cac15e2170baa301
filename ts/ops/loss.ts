/** Loss functions: scalar means over the batch, differentiable. */
import { record } from '../autograd/tape.js';
import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { mul, square, sub } from './elementwise.js';
import { mean } from './reduce.js';
import { allocateTensor, assertRank, assertTensor, sameBackend } from './validate.js';

/** Mean sparse categorical cross-entropy of `logits` [batch, classes] against int32 class `labels` [batch]. */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const op = 'softmaxCrossEntropy()';
  assertTensor(op, 'logits', logits);
  assertTensor(op, 'labels', labels, 'int32');
  assertRank(op, 'logits', logits, 2);
  const [rows, classes] = logits.shape;
  if (labels.size !== rows) throw new ShapeError(`${op}: labels must have ${rows} entries (one per row of logits), got shape [${labels.shape}]`);
  const backend = sameBackend(op, logits, labels);
  return fusedLoss(logits, (grad) => backend.softmaxCrossEntropy(logits.storage, labels.storage, rows, classes, grad.storage));
}

/**
 * Mean binary cross-entropy against 0/1 (or soft) targets of the same shape: of probabilities (clipped to
 * [1e-7, 1 − 1e-7] as Keras does) or, with `fromLogits`, of sigmoid(logits) computed stably.
 */
export function binaryCrossEntropy(prediction: Tensor, target: Tensor, options: { fromLogits?: boolean } = {}): Tensor {
  const op = 'binaryCrossEntropy()';
  assertTensor(op, 'prediction', prediction);
  assertTensor(op, 'target', target);
  checkTargetShape(op, prediction, target);
  const backend = sameBackend(op, prediction, target);
  return fusedLoss(prediction, (grad) => backend.binaryCrossEntropy(prediction.storage, target.storage, options.fromLogits ?? false, grad.storage));
}

/** Mean of (prediction − target)². */
export function meanSquaredError(prediction: Tensor, target: Tensor): Tensor {
  checkTargetShape('meanSquaredError()', prediction, target);
  return mean(square(sub(prediction, target)));
}

function checkTargetShape(op: string, prediction: Tensor, target: Tensor): void {
  if (prediction.shape.join() !== target.shape.join()) {
    throw new ShapeError(`${op}: target must have the prediction's shape [${prediction.shape}], got [${target.shape}]`);
  }
}

/**
 * A loss whose kernel returns the mean and writes d(mean)/d(prediction) into `grad` in one pass: the scalar
 * loss tensor, whose gradient rule scales that saved gradient. A kernel error frees the gradient buffer.
 */
function fusedLoss(prediction: Tensor, kernel: (grad: Tensor) => number): Tensor {
  const grad = allocateTensor(prediction.backend, prediction.shape);
  let loss: number;
  try {
    loss = kernel(grad);
  } catch (error) {
    grad.dispose();
    throw error;
  }
  const out = allocateTensor(prediction.backend, []);
  prediction.backend.fill(out.storage, loss);
  return record(out, [prediction], (dy) => [mul(grad, dy)]);
}
