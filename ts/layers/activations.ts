/** Activation functions by name, shared by layers that take an `activation` option. */
import { ValueError, describe } from '../errors.js';
import { leakyRelu, relu, sigmoid, softmax, tanh } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';

export type ActivationName = 'linear' | 'relu' | 'leakyRelu' | 'sigmoid' | 'tanh' | 'softmax';

const ACTIVATIONS: Record<ActivationName, (x: Tensor) => Tensor> = {
  linear: (x) => x,
  relu,
  leakyRelu: (x) => leakyRelu(x, 0.2), // Keras' activation default (the LeakyReLU layer's is 0.3)
  sigmoid,
  tanh,
  softmax,
};

export function activationFn(layer: string, name: unknown): (x: Tensor) => Tensor {
  const fn = ACTIVATIONS[name as ActivationName];
  if (!fn) throw new ValueError(`${layer}: activation must be one of ${Object.keys(ACTIVATIONS).join(', ')}, got ${describe(name)}`);
  return fn;
}
