/** compile(): the optimizer, the loss and the metrics a model trains and evaluates with. */
import { ValueError, describe } from '../errors.js';
import { Adam, type Optimizer } from '../optim/optimizers.js';
import { lossByName, type LossFn, type LossName } from './losses.js';
import { METRIC_NAMES, type MetricName } from './epoch-metrics.js';
import type { Model } from './model.js';

export interface CompileOptions {
  optimizer?: Optimizer;
  loss: LossName | LossFn;
  /** For the cross-entropy losses: the model outputs logits (recommended) rather than probabilities. */
  fromLogits?: boolean;
  /**
   * Computed over each whole epoch (not averaged per batch) from the outputs' argmax against class labels:
   * 'accuracy', macro 'precision', 'recall' and 'f1', and 'auc' (one-vs-rest macro ROC AUC).
   */
  metrics?: MetricName[];
}

export interface Compiled {
  optimizer: Optimizer;
  loss: LossFn;
  lossName: LossName | 'custom';
  metrics: MetricName[];
  /** Targets are class labels (int32), not one value per output. */
  sparse: boolean;
  fromLogits: boolean;
}

export function compileOptions(model: Model, options: CompileOptions): Compiled {
  const { optimizer = new Adam(), loss, fromLogits = false, metrics = [] } = options ?? ({} as never);
  if (model.outputs.length !== 1) throw new ValueError(`compile(): training needs a model with one output, this one has ${model.outputs.length}`);
  const lossFn = typeof loss === 'function' ? loss : lossByName(loss, fromLogits);
  if (!Array.isArray(metrics) || !metrics.every((m) => METRIC_NAMES.includes(m))) {
    throw new ValueError(`compile(): metrics may contain ${METRIC_NAMES.map((m) => `'${m}'`).join(', ')}, got ${describe(metrics)}${Array.isArray(metrics) ? ` [${metrics.join(', ')}]` : ''}`);
  }
  if (typeof optimizer?.apply !== 'function') throw new ValueError(`compile(): optimizer must be an optimizer (new kiln.Adam(), …), got ${describe(optimizer)}`);
  return {
    optimizer,
    loss: lossFn,
    lossName: typeof loss === 'function' ? 'custom' : loss,
    metrics: [...new Set(metrics)],
    sparse: loss === 'sparseCategoricalCrossentropy',
    fromLogits,
  };
}
