/** Conv2D and 2-D pooling layers (NHWC). */
import { ValueError, describe } from '../errors.js';
import { zeros } from '../ops/creation.js';
import { avgPool2d, conv2d, isFusableMaxPool, maxPool2d, type Pool2dOptions } from '../ops/conv.js';
import { conv2dGeometry, pair, pool2dGeometry, type Pair } from '../ops/geometry.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import { activationFn, type ActivationName } from './activations.js';
import { initialize, type Initializer } from './initializers.js';
import { StatelessLayer, type Layer } from './layer.js';

export interface Conv2DOptions {
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilation?: Pair;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
}

export class Conv2D implements Layer {
  readonly kind = 'Conv2D';
  weights: Tensor[] = [];
  private readonly kernelSize: [number, number];
  private readonly activate: (x: Tensor) => Tensor;

  constructor(
    readonly filters: number,
    kernelSize: Pair,
    private readonly options: Conv2DOptions = {},
  ) {
    if (!Number.isInteger(filters) || filters < 1) throw new ValueError(`conv2d(): filters must be a positive integer, got ${describe(filters)}`);
    this.kernelSize = pair('conv2d()', 'kernelSize', kernelSize);
    this.activate = activationFn('conv2d()', options.activation ?? 'linear');
  }

  build(inputShape: Shape, seed: number): Shape {
    if (inputShape.length !== 3) throw new ValueError(`conv2d(): input must be [height, width, channels] per example, got [${inputShape}]`);
    const [kh, kw] = this.kernelSize;
    const channels = inputShape[2];
    const g = conv2dGeometry('conv2d()', [1, ...inputShape], [kh, kw, channels, this.filters], this.options.strides ?? 1, this.options.padding ?? 'valid', this.options.dilation ?? 1);
    const kernel = initialize(this.options.kernelInitializer ?? 'glorotUniform', [kh, kw, channels, this.filters], kh * kw * channels, kh * kw * this.filters, seed);
    this.weights = (this.options.useBias === false ? [kernel] : [kernel, zeros([this.filters])]).map(keep);
    return [g.outH, g.outW, this.filters];
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
  fuses(next: Layer | undefined): next is Pooling2D {
    const { activation } = this.options;
    return (
      next instanceof Pooling2D && next.kind === 'MaxPooling2D' && isFusableMaxPool(next.options) &&
      (activation === undefined || activation === 'linear' || activation === 'relu')
    );
  }

  dispose(): void {
    for (const w of this.weights) w.dispose();
  }
}

export class Pooling2D extends StatelessLayer {
  constructor(
    readonly kind: 'MaxPooling2D' | 'AveragePooling2D',
    readonly options: Pool2dOptions,
  ) {
    super();
  }
  build(inputShape: Shape): Shape {
    const g = pool2dGeometry(`${this.kind}`, [1, ...inputShape], this.options.poolSize ?? 2, this.options.strides, this.options.padding ?? 'valid');
    return [g.outH, g.outW, g.channels];
  }
  call(x: Tensor): Tensor {
    return this.kind === 'MaxPooling2D' ? maxPool2d(x, this.options) : avgPool2d(x, this.options);
  }
}

export const MaxPooling2D = (options: Pool2dOptions = {}) => new Pooling2D('MaxPooling2D', options);
export const AveragePooling2D = (options: Pool2dOptions = {}) => new Pooling2D('AveragePooling2D', options);
