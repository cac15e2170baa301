/** Dense, Flatten, Activation and Dropout layers. */
import { ShapeError, ValueError, describe } from '../errors.js';
import { zeros } from '../ops/creation.js';
import { add, dropout } from '../ops/elementwise.js';
import { matMul } from '../ops/linalg.js';
import { reshape } from '../ops/shape.js';
import { mulberry32 } from '../random.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import { sizeOf } from '../ops/validate.js';
import { activationFn, type ActivationName } from './activations.js';
import { initialize, type Initializer } from './initializers.js';
import { StatelessLayer, type Layer } from './layer.js';

export interface DenseOptions {
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
}

export class Dense implements Layer {
  readonly kind = 'Dense';
  weights: Tensor[] = [];
  private readonly activate: (x: Tensor) => Tensor;

  constructor(
    readonly units: number,
    private readonly options: DenseOptions = {},
  ) {
    if (!Number.isInteger(units) || units < 1) throw new ValueError(`dense(): units must be a positive integer, got ${describe(units)}`);
    this.activate = activationFn('dense()', options.activation ?? 'linear');
  }

  build(inputShape: Shape, seed: number): Shape {
    if (inputShape.length !== 1) {
      throw new ShapeError(`dense(): input must be flat [features] per example, got [${inputShape}]; add flatten() before it`);
    }
    const [features] = inputShape;
    const kernel = initialize(this.options.kernelInitializer ?? 'glorotUniform', [features, this.units], features, this.units, seed);
    // Weights outlive any scope() the model is built in; the layer's dispose() frees them.
    this.weights = (this.options.useBias === false ? [kernel] : [kernel, zeros([this.units])]).map(keep);
    return [this.units];
  }

  call(x: Tensor): Tensor {
    const [kernel, bias] = this.weights;
    const y = matMul(x, kernel);
    return this.activate(bias ? add(y, bias) : y);
  }

  dispose(): void {
    for (const w of this.weights) w.dispose();
  }
}

export class Flatten extends StatelessLayer {
  readonly kind = 'Flatten';
  build(inputShape: Shape): Shape {
    return [sizeOf(inputShape)];
  }
  call(x: Tensor): Tensor {
    return reshape(x, [x.shape[0], -1]);
  }
}

export class Activation extends StatelessLayer {
  readonly kind = 'Activation';
  private readonly activate: (x: Tensor) => Tensor;
  constructor(readonly activation: ActivationName) {
    super();
    this.activate = activationFn('activation()', activation);
  }
  build(inputShape: Shape): Shape {
    return inputShape;
  }
  call(x: Tensor): Tensor {
    return this.activate(x);
  }
}

/** Drops a `rate` fraction of values while training and scales the rest by 1/(1−rate); identity otherwise. */
export class Dropout extends StatelessLayer {
  readonly kind = 'Dropout';
  private random: () => number = Math.random;
  constructor(readonly rate: number) {
    super();
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new ValueError(`dropout(): rate must be in [0, 1), got ${describe(rate)}`);
  }
  build(inputShape: Shape, seed: number): Shape {
    this.random = mulberry32(seed);
    return inputShape;
  }
  call(x: Tensor, training: boolean): Tensor {
    if (!training || this.rate === 0) return x;
    return dropout(x, this.rate, Math.floor(this.random() * 2 ** 32)); // a fresh mask each step
  }
}
