/** Conv2D, 2-D pooling (windowed and global) and zero padding layers (NHWC). */
import { ShapeError, ValueError, describe } from '../errors.js';
import { zeros } from '../ops/creation.js';
import { avgPool2d, conv2d, isFusableMaxPool, maxPool2d, type Pool2dOptions } from '../ops/conv.js';
import { conv2dGeometry, pair, pool2dGeometry, type Pair } from '../ops/geometry.js';
import { pad2d, reshape } from '../ops/shape.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import { activationFn, type ActivationName } from './activations.js';
import { initialize, type Initializer } from './initializers.js';
import { Layer, single, type LayerOptions } from './layer.js';

export interface Conv2DOptions extends LayerOptions {
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilation?: Pair;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
}

/** The per-example image shape [h, w, c] of a 2-D layer's input. */
function image(layer: Layer, inputShape: Shape | Shape[]): Shape {
  const shape = single(layer, inputShape);
  if (shape.length !== 3) throw new ShapeError(`${layer.label}: input must be [height, width, channels] per example, got [${shape}]`);
  return shape;
}

export class Conv2D extends Layer {
  readonly kind = 'Conv2D';
  private readonly kernelSize: [number, number];
  private readonly activate: (x: Tensor) => Tensor;

  constructor(
    readonly filters: number,
    kernelSize: Pair,
    private readonly options: Conv2DOptions = {},
  ) {
    super(options);
    if (!Number.isInteger(filters) || filters < 1) throw new ValueError(`conv2d(): filters must be a positive integer, got ${describe(filters)}`);
    this.kernelSize = pair('conv2d()', 'kernelSize', kernelSize);
    this.activate = activationFn('conv2d()', options.activation ?? 'linear');
  }

  outputShape(inputShape: Shape | Shape[]): Shape {
    const shape = image(this, inputShape);
    const [kh, kw] = this.kernelSize;
    const g = conv2dGeometry(this.label, [1, ...shape], [kh, kw, shape[2], this.filters], this.options.strides ?? 1, this.options.padding ?? 'valid', this.options.dilation ?? 1);
    return [g.outH, g.outW, this.filters];
  }

  protected createWeights(inputShape: Shape, seed: number): void {
    const [kh, kw] = this.kernelSize;
    const channels = inputShape[2];
    const kernel = initialize(this.options.kernelInitializer ?? 'glorotUniform', [kh, kw, channels, this.filters], kh * kw * channels, kh * kw * this.filters, seed);
    this.weights = (this.options.useBias === false ? [kernel] : [kernel, zeros([this.filters])]).map(keep);
  }

  get weightNames(): string[] {
    return this.options.useBias === false ? ['kernel'] : ['kernel', 'bias'];
  }

  weightShapes(inputShape: Shape | Shape[]) {
    this.outputShape(inputShape);
    const kernel = [...this.kernelSize, (inputShape as Shape)[2], this.filters];
    return { weights: this.options.useBias === false ? [kernel] : [kernel, [this.filters]], state: [] };
  }

  /** With `maxPool` (see `fuses`), returns the max-pooled output, pooled inside the convolution kernel. */
  call(x: Tensor, _training = false, maxPool?: Pool2dOptions): Tensor {
    const [kernel, bias] = this.weights;
    const { strides, padding, dilation, activation } = this.options;
    // ReLU (the usual case) runs inside the convolution kernel; other activations follow as their own op.
    if (activation === undefined || activation === 'linear' || activation === 'relu') {
      return conv2d(x, kernel, bias ?? null, { strides, padding, dilation, activation, maxPool });
    }
    return this.activate(conv2d(x, kernel, bias ?? null, { strides, padding, dilation }));
  }

  /** Whether `next` is a max pooling this layer can run inside its own kernel. */
  fuses(next: Layer | null | undefined): next is Pooling2D {
    const { activation } = this.options;
    return (
      next instanceof Pooling2D && next.kind === 'MaxPooling2D' && isFusableMaxPool(next.options) &&
      (activation === undefined || activation === 'linear' || activation === 'relu')
    );
  }

  config() {
    return { filters: this.filters, kernelSize: this.kernelSize, ...this.options };
  }
}

export class Pooling2D extends Layer {
  constructor(
    readonly kind: 'MaxPooling2D' | 'AveragePooling2D',
    readonly options: Pool2dOptions & LayerOptions,
  ) {
    super(options);
  }
  outputShape(inputShape: Shape | Shape[]): Shape {
    const g = pool2dGeometry(this.label, [1, ...image(this, inputShape)], this.options.poolSize ?? 2, this.options.strides, this.options.padding ?? 'valid');
    return [g.outH, g.outW, g.channels];
  }
  call(x: Tensor): Tensor {
    return this.kind === 'MaxPooling2D' ? maxPool2d(x, this.options) : avgPool2d(x, this.options);
  }
  config() {
    return { ...this.options };
  }
}

/** The mean of each channel over the whole image: [h, w, c] → [c]. */
export class GlobalAveragePooling2D extends Layer {
  readonly kind = 'GlobalAveragePooling2D';
  outputShape(inputShape: Shape | Shape[]): Shape {
    return [image(this, inputShape)[2]];
  }
  call(x: Tensor): Tensor {
    const [n, h, w, c] = x.shape;
    return reshape(avgPool2d(x, { poolSize: [h, w] }), [n, c]);
  }
  config() {
    return { name: this.name };
  }
}

export type Padding2D = number | [number, number] | [[number, number], [number, number]];

/** Zeros around each image: `padding` as p (all sides), [rows, columns] or [[top, bottom], [left, right]]. */
export class ZeroPadding2D extends Layer {
  readonly kind = 'ZeroPadding2D';
  readonly padding: [[number, number], [number, number]];
  constructor(padding: Padding2D = 1, options: LayerOptions = {}) {
    super(options);
    const sides = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number]);
    this.padding = Array.isArray(padding) ? [sides(padding[0]), sides(padding[1])] : [sides(padding), sides(padding)];
    if (!this.padding.flat().every((p) => Number.isInteger(p) && p >= 0)) {
      throw new ValueError(`zeroPadding2d(): padding must be non-negative integers (p, [rows, cols] or [[top, bottom], [left, right]]), got ${JSON.stringify(padding)}`);
    }
  }
  outputShape(inputShape: Shape | Shape[]): Shape {
    const [h, w, c] = image(this, inputShape);
    const [[top, bottom], [left, right]] = this.padding;
    return [h + top + bottom, w + left + right, c];
  }
  call(x: Tensor): Tensor {
    return pad2d(x, this.padding);
  }
  config() {
    return { padding: this.padding, name: this.name };
  }
}
