/** Layers that merge several inputs: Add (same shapes) and Concatenate (along one axis). */
import { ShapeError, ValueError, describe } from '../errors.js';
import { add } from '../ops/elementwise.js';
import { concat } from '../ops/shape.js';
import type { Shape, Tensor } from '../tensor.js';
import { Layer, type LayerOptions } from './layer.js';

function several(layer: Layer, inputShape: Shape | Shape[]): Shape[] {
  if (!(inputShape.length >= 2 && inputShape.every(Array.isArray))) {
    throw new ValueError(`${layer.label}: takes an array of at least 2 inputs, got ${JSON.stringify(inputShape)}`);
  }
  return inputShape as Shape[];
}

/** Elementwise sum of inputs of one shape (residual connections). */
export class Add extends Layer {
  readonly kind = 'Add';
  readonly multiInput = true;
  outputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = several(this, inputShape);
    const bad = shapes.findIndex((s) => s.join() !== shapes[0].join());
    if (bad >= 0) throw new ShapeError(`${this.label}: cannot add inputs of shapes [${shapes[0]}] and [${shapes[bad]}] (input ${bad}); all must be equal`);
    return shapes[0];
  }
  call(x: Tensor[]): Tensor {
    return x.slice(1).reduce((sum, t) => add(sum, t), x[0]);
  }
  config() {
    return { name: this.name };
  }
}

/** Inputs side by side along `axis` (per example; default −1, the channels). */
export class Concatenate extends Layer {
  readonly kind = 'Concatenate';
  readonly multiInput = true;
  readonly axis: number;
  constructor(options: LayerOptions & { axis?: number } = {}) {
    super(options);
    this.axis = options.axis ?? -1;
    if (!Number.isInteger(this.axis)) throw new ValueError(`concatenate(): axis must be an integer, got ${describe(options.axis)}`);
  }
  /** The axis within an example's shape of `rank`. */
  private axisFor(rank: number): number {
    const at = this.axis < 0 ? rank + this.axis : this.axis;
    if (at < 0 || at >= rank) throw new ShapeError(`${this.label}: axis ${this.axis} is outside inputs of rank ${rank} per example`);
    return at;
  }
  outputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = several(this, inputShape);
    const at = this.axisFor(shapes[0].length);
    shapes.forEach((s, i) => {
      if (s.length !== shapes[0].length || s.some((d, j) => j !== at && d !== shapes[0][j])) {
        throw new ShapeError(`${this.label}: cannot concatenate inputs of shapes [${shapes[0]}] and [${s}] (input ${i}) along axis ${this.axis}; the other axes must agree`);
      }
    });
    return shapes[0].map((d, j) => (j === at ? shapes.reduce((n, s) => n + s[at], 0) : d));
  }
  call(x: Tensor[]): Tensor {
    return concat(x, this.axisFor(x[0].rank - 1) + 1);
  }
  config() {
    return { axis: this.axis, name: this.name };
  }
}
