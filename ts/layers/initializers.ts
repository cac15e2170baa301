/** Weight initialisers (Keras' defaults), seeded. */
import { mulberry32 } from '../random.js';
import { tensor } from '../ops/creation.js';
import type { Shape, Tensor } from '../tensor.js';
import { sizeOf } from '../ops/validate.js';

/** Glorot/Xavier uniform: U(−l, l) with l = √(6 / (fanIn + fanOut)). */
export function glorotUniform(shape: Shape, fanIn: number, fanOut: number, seed: number): Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const random = mulberry32(seed);
  const values = new Float32Array(sizeOf(shape));
  for (let i = 0; i < values.length; i++) values[i] = (random() * 2 - 1) * limit;
  return tensor(values, shape);
}

/** He normal: N(0, 2 / fanIn), drawn by Box–Muller and truncated at two standard deviations as Keras does. */
export function heNormal(shape: Shape, fanIn: number, seed: number): Tensor {
  const std = Math.sqrt(2 / fanIn) / 0.8796256610342398; // Keras' correction for the truncation
  const random = mulberry32(seed);
  const values = new Float32Array(sizeOf(shape));
  for (let i = 0; i < values.length; ) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    if (Math.abs(z) <= 2) values[i++] = z * std;
  }
  return tensor(values, shape);
}

export type Initializer = 'glorotUniform' | 'heNormal';

/** Kernel initialiser by name, with Keras' fan rules (conv: fan = kh·kw·channels). */
export function initialize(name: Initializer, shape: Shape, fanIn: number, fanOut: number, seed: number): Tensor {
  return name === 'heNormal' ? heNormal(shape, fanIn, seed) : glorotUniform(shape, fanIn, fanOut, seed);
}
