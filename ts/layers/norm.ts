/** BatchNormalization layer: batch statistics while training, moving averages at inference. */
import { ValueError, describe } from '../errors.js';
import { fill, zeros } from '../ops/creation.js';
import { batchNorm, type BatchNormState } from '../ops/norm.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import { Layer, single, type LayerOptions } from './layer.js';

export interface BatchNormalizationOptions extends LayerOptions {
  momentum?: number;
  epsilon?: number;
}

export class BatchNormalization extends Layer {
  readonly kind = 'BatchNormalization';
  private moving: BatchNormState | null = null;

  constructor(private readonly options: BatchNormalizationOptions = {}) {
    super(options);
    const { momentum = 0.99, epsilon = 1e-3 } = options;
    if (!(momentum >= 0 && momentum < 1)) throw new ValueError(`batchNormalization(): momentum must be in [0, 1), got ${describe(momentum)}`);
    if (!(epsilon > 0)) throw new ValueError(`batchNormalization(): epsilon must be positive, got ${describe(epsilon)}`);
  }

  outputShape(inputShape: Shape | Shape[]): Shape {
    return single(this, inputShape);
  }

  protected createWeights(inputShape: Shape): void {
    const channels = inputShape[inputShape.length - 1];
    this.weights = [fill([channels], 1), zeros([channels])].map(keep);
    this.adoptState([zeros([channels]), fill([channels], 1)]);
  }

  weightShapes(inputShape: Shape | Shape[]) {
    const channels = [this.outputShape(inputShape).at(-1)!];
    return { weights: [channels, channels], state: [channels, channels] };
  }

  protected adoptState([movingMean, movingVariance]: Tensor[]): void {
    this.moving = { movingMean: keep(movingMean), movingVariance: keep(movingVariance), momentum: this.options.momentum ?? 0.99, epsilon: this.options.epsilon ?? 1e-3 };
  }

  get weightNames(): string[] {
    return ['gamma', 'beta'];
  }

  call(x: Tensor, training: boolean): Tensor {
    const [gamma, beta] = this.weights;
    return batchNorm(x, gamma, beta, this.moving!, training);
  }

  /** The moving mean and variance (not trained by gradients). */
  get state(): Tensor[] {
    return this.moving ? [this.moving.movingMean, this.moving.movingVariance] : [];
  }

  get stateNames(): string[] {
    return ['moving_mean', 'moving_variance'];
  }

  config() {
    return { ...this.options };
  }
}
