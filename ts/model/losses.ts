/** Losses by name for `compile()`. */
import { ValueError, describe } from '../errors.js';
import { log, logSoftmax, mul, mulScalar } from '../ops/elementwise.js';
import { binaryCrossEntropy, meanSquaredError, softmaxCrossEntropy } from '../ops/loss.js';
import { sum } from '../ops/reduce.js';
import type { Tensor } from '../tensor.js';

export type LossFn = (prediction: Tensor, target: Tensor) => Tensor;
export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'binaryCrossentropy' | 'meanSquaredError';

/** −Σ target·log(p) / rows, from probabilities or (stably) from logits. */
function categorical(prediction: Tensor, target: Tensor, fromLogits: boolean): Tensor {
  const logProbs = fromLogits ? logSoftmax(prediction) : log(prediction);
  return mulScalar(sum(mul(target, logProbs)), -1 / prediction.shape[0]);
}

export function lossByName(name: unknown, fromLogits: boolean): LossFn {
  switch (name) {
    case 'sparseCategoricalCrossentropy':
      return fromLogits
        ? softmaxCrossEntropy
        : // softmax(log p) = p for probabilities that sum to 1: the sparse loss of log p needs no one-hot labels
          (p, labels) => softmaxCrossEntropy(log(p), labels);
    case 'categoricalCrossentropy':
      return (p, t) => categorical(p, t, fromLogits);
    case 'binaryCrossentropy':
      return (p, t) => binaryCrossEntropy(p, t, { fromLogits });
    case 'meanSquaredError':
      return meanSquaredError;
    default:
      throw new ValueError(`compile(): loss must be a function or one of sparseCategoricalCrossentropy, categoricalCrossentropy, binaryCrossentropy, meanSquaredError, got ${describe(name)}`);
  }
}

