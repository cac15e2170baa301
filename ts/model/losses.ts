/** Losses by name for `compile()`, and the one-hot helper the probability forms need. */
import { ValueError, describe } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { log, logSoftmax, mul, mulScalar } from '../ops/elementwise.js';
import { binaryCrossEntropy, meanSquaredError, softmaxCrossEntropy } from '../ops/loss.js';
import { sum } from '../ops/reduce.js';
import type { Tensor } from '../tensor.js';

export type LossFn = (prediction: Tensor, target: Tensor) => Tensor;
export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'binaryCrossentropy' | 'meanSquaredError';

/** One-hot float32 [rows, classes] of int32 labels. */
export function oneHot(labels: Tensor, classes: number): Tensor {
  const values = labels.dataSync();
  const out = new Float32Array(values.length * classes);
  values.forEach((label, i) => {
    if (!(label >= 0 && label < classes)) throw new ValueError(`oneHot(): label at ${i} must be in [0, ${classes}), got ${label}`);
    out[i * classes + label] = 1;
  });
  return tensor(out, [values.length, classes]);
}

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
        : (p, labels) => categorical(p, oneHot(labels, p.shape[1]), false);
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

