/** BatchNormalization layer: batch statistics while training, moving averages at inference. */
import { ValueError, describe } from '../errors.js';
import { fill, zeros } from '../ops/creation.js';
import { batchNorm, type BatchNormState } from '../ops/norm.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import type { Layer } from './layer.js';

export interface BatchNormalizationOptions {
  momentum?: number;
  epsilon?: number;
}

export class BatchNormalization implements Layer {
  readonly kind = 'BatchNormalization';
  weights: Tensor[] = [];
  private state: BatchNormState | null = null;

  constructor(private readonly options: BatchNormalizationOptions = {}) {
    const { momentum = 0.99, epsilon = 1e-3 } = options;
    if (!(momentum >= 0 && momentum < 1)) throw new ValueError(`batchNormalization(): momentum must be in [0, 1), got ${describe(momentum)}`);
    if (!(epsilon > 0)) throw new ValueError(`batchNormalization(): epsilon must be positive, got ${describe(epsilon)}`);
  }

  build(inputShape: Shape): Shape {
    const channels = inputShape[inputShape.length - 1];
    this.weights = [fill([channels], 1), zeros([channels])].map(keep);
    this.state = {
      movingMean: keep(zeros([channels])),
      movingVariance: keep(fill([channels], 1)),
      momentum: this.options.momentum ?? 0.99,
      epsilon: this.options.epsilon ?? 1e-3,
    };
    return inputShape;
  }

  call(x: Tensor, training: boolean): Tensor {
    const [gamma, beta] = this.weights;
    return batchNorm(x, gamma, beta, this.state!, training);
  }

  /** The moving mean and variance (not trained by gradients). */
  get movingStatistics(): Tensor[] {
    return this.state ? [this.state.movingMean, this.state.movingVariance] : [];
  }

  dispose(): void {
    for (const t of [...this.weights, ...this.movingStatistics]) t.dispose();
  }
}
