/** Dense, Flatten, Reshape, Activation, LeakyReLU, Softmax and Dropout layers. */
import { ShapeError, ValueError, describe } from '../errors.js';
import { zeros } from '../ops/creation.js';
import { add, dropout, leakyRelu, softmax } from '../ops/elementwise.js';
import { matMul } from '../ops/linalg.js';
import { reshape } from '../ops/shape.js';
import { mulberry32 } from '../random.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import { sizeOf } from '../ops/validate.js';
import { activationFn, type ActivationName } from './activations.js';
import { initialize, type Initializer } from './initializers.js';
import { Layer, single, type LayerOptions } from './layer.js';

export interface DenseOptions extends LayerOptions {
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
}

export class Dense extends Layer {
  readonly kind = 'Dense';
  private readonly activate: (x: Tensor) => Tensor;

  constructor(
    readonly units: number,
    private readonly options: DenseOptions = {},
  ) {
    super(options);
    if (!Number.isInteger(units) || units < 1) throw new ValueError(`dense(): units must be a positive integer, got ${describe(units)}`);
    this.activate = activationFn('dense()', options.activation ?? 'linear');
  }

  outputShape(inputShape: Shape | Shape[]): Shape {
    const shape = single(this, inputShape);
    if (shape.length !== 1) {
      throw new ShapeError(`${this.label}: input must be flat [features] per example, got [${shape}]; add flatten() before it`);
    }
    return [this.units];
  }

  protected createWeights(inputShape: Shape, seed: number): void {
    const [features] = inputShape;
    const kernel = initialize(this.options.kernelInitializer ?? 'glorotUniform', [features, this.units], features, this.units, seed);
    // Weights outlive any scope() the model is built in; the layer's dispose() frees them.
    this.weights = (this.options.useBias === false ? [kernel] : [kernel, zeros([this.units])]).map(keep);
  }

  get weightNames(): string[] {
    return this.options.useBias === false ? ['kernel'] : ['kernel', 'bias'];
  }

  weightShapes(inputShape: Shape | Shape[]) {
    this.outputShape(inputShape);
    const [features] = inputShape as Shape;
    const kernel = [features, this.units];
    return { weights: this.options.useBias === false ? [kernel] : [kernel, [this.units]], state: [] };
  }

  call(x: Tensor): Tensor {
    const [kernel, bias] = this.weights;
    const y = matMul(x, kernel);
    return this.activate(bias ? add(y, bias) : y);
  }

  config() {
    return { units: this.units, ...this.options };
  }
}

export class Flatten extends Layer {
  readonly kind = 'Flatten';
  outputShape(inputShape: Shape | Shape[]): Shape {
    return [sizeOf(single(this, inputShape))];
  }
  call(x: Tensor): Tensor {
    return reshape(x, [x.shape[0], -1]);
  }
  config() {
    return { name: this.name };
  }
}

export class Reshape extends Layer {
  readonly kind = 'Reshape';
  constructor(
    readonly targetShape: Shape,
    options: LayerOptions = {},
  ) {
    super(options);
    const inferred = Array.isArray(targetShape) ? targetShape.filter((d) => d === -1).length : 0;
    if (!Array.isArray(targetShape) || inferred > 1 || !targetShape.every((d) => d === -1 || (Number.isInteger(d) && d > 0))) {
      throw new ShapeError(`reshape(): targetShape must list positive sizes per example (one may be -1), got ${JSON.stringify(targetShape)}`);
    }
  }
  outputShape(inputShape: Shape | Shape[]): Shape {
    const size = sizeOf(single(this, inputShape));
    const known = sizeOf(this.targetShape.filter((d) => d !== -1));
    const out = this.targetShape.map((d) => (d === -1 ? size / known : d));
    if (sizeOf(out) !== size || !out.every(Number.isInteger)) {
      throw new ShapeError(`${this.label}: cannot reshape [${inputShape}] (${size} values per example) into [${this.targetShape}]`);
    }
    return out;
  }
  call(x: Tensor): Tensor {
    return reshape(x, [x.shape[0], ...this.outputShape(x.shape.slice(1))]);
  }
  config() {
    return { targetShape: this.targetShape, name: this.name };
  }
}

/** Layers that keep their input's shape. */
abstract class ShapeKeeping extends Layer {
  outputShape(inputShape: Shape | Shape[]): Shape {
    return single(this, inputShape);
  }
}

export class Activation extends ShapeKeeping {
  readonly kind = 'Activation';
  private readonly activate: (x: Tensor) => Tensor;
  constructor(
    readonly activation: ActivationName,
    options: LayerOptions = {},
  ) {
    super(options);
    this.activate = activationFn('activation()', activation);
  }
  call(x: Tensor): Tensor {
    return this.activate(x);
  }
  config() {
    return { activation: this.activation, name: this.name };
  }
}

export class LeakyReLU extends ShapeKeeping {
  readonly kind = 'LeakyReLU';
  readonly alpha: number;
  constructor(options: LayerOptions & { alpha?: number } = {}) {
    super(options);
    this.alpha = options.alpha ?? 0.3;
    if (typeof this.alpha !== 'number' || !(this.alpha >= 0 && Number.isFinite(this.alpha))) throw new ValueError(`leakyRelu(): alpha must be a finite number ≥ 0, got ${describe(options.alpha)}`);
  }
  call(x: Tensor): Tensor {
    return leakyRelu(x, this.alpha);
  }
  config() {
    return { alpha: this.alpha, name: this.name };
  }
}

/** Softmax over the last axis. */
export class Softmax extends ShapeKeeping {
  readonly kind = 'Softmax';
  call(x: Tensor): Tensor {
    return softmax(x);
  }
  config() {
    return { name: this.name };
  }
}

/** Drops a `rate` fraction of values while training and scales the rest by 1/(1−rate); identity otherwise. */
export class Dropout extends ShapeKeeping {
  readonly kind = 'Dropout';
  private random = mulberry32(0);
  private seed = 0;
  constructor(
    readonly rate: number,
    options: LayerOptions = {},
  ) {
    super(options);
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new ValueError(`dropout(): rate must be in [0, 1), got ${describe(rate)}`);
  }
  protected createWeights(_inputShape: Shape, seed: number): void {
    this.seed = seed;
    this.random = mulberry32(seed);
  }
  call(x: Tensor, training: boolean): Tensor {
    if (!training || this.rate === 0) return x;
    return dropout(x, this.rate, Math.floor(this.random() * 2 ** 32)); // a fresh mask each step
  }
  /** Masks drawn so far, which with the seed is the layer's random state (checkpoints save it). */
  get randomState(): number {
    return this.random.draws;
  }
  set randomState(draws: number) {
    this.random = mulberry32(this.seed, draws);
  }
  config() {
    return { rate: this.rate, name: this.name };
  }
}
