/** A stack of layers: a chain on the one graph Model class (the same compile / fit / evaluate / predict). */
import { ShapeError, ValueError, describe } from '../errors.js';
import { input, type Layer } from '../layers/layer.js';
import type { Shape } from '../tensor.js';
import { Model } from './model.js';

export interface SequentialOptions {
  inputShape: Shape;
  /** Layer i is initialised from seed·1000 + i (default 1). */
  seed?: number;
  name?: string;
}

export class Sequential extends Model {
  constructor(layers: Layer[], options: SequentialOptions) {
    const op = 'sequential()';
    if (!Array.isArray(layers) || layers.length === 0) throw new ValueError(`${op}: layers must be a non-empty array, got ${describe(layers)}`);
    const { inputShape, seed, name = 'sequential' } = options ?? ({} as never);
    if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new ShapeError(`${op}: inputShape must list positive sizes per example (no batch axis), got ${JSON.stringify(inputShape)}`);
    }
    const x = input({ shape: inputShape });
    super({ inputs: x, outputs: layers.reduce((h, layer) => layer.apply(h), x), seed, name }, op);
  }
}

export function sequential(layers: Layer[], options: SequentialOptions): Sequential {
  return new Sequential(layers, options);
}
