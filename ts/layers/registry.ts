/** Layers by kind, rebuilt from the configs a model file holds (each constructor validates its options). */
import { Activation, Dense, Dropout, Flatten, LeakyReLU, Reshape, Softmax } from './core.js';
import { Conv2D, GlobalAveragePooling2D, Pooling2D, ZeroPadding2D } from './conv.js';
import type { Layer } from './layer.js';
import { Add, Concatenate } from './merge.js';
import { BatchNormalization } from './norm.js';

type Config = Record<string, never>;

export const LAYER_KINDS: Record<string, (config: Config) => Layer> = {
  Dense: ({ units, ...options }) => new Dense(units, options),
  Conv2D: ({ filters, kernelSize, ...options }) => new Conv2D(filters, kernelSize, options),
  MaxPooling2D: (options) => new Pooling2D('MaxPooling2D', options),
  AveragePooling2D: (options) => new Pooling2D('AveragePooling2D', options),
  GlobalAveragePooling2D: (options) => new GlobalAveragePooling2D(options),
  ZeroPadding2D: ({ padding, ...options }) => new ZeroPadding2D(padding, options),
  Flatten: (options) => new Flatten(options),
  Reshape: ({ targetShape, ...options }) => new Reshape(targetShape, options),
  Activation: ({ activation, ...options }) => new Activation(activation, options),
  LeakyReLU: (options) => new LeakyReLU(options),
  Softmax: (options) => new Softmax(options),
  Dropout: ({ rate, ...options }) => new Dropout(rate, options),
  BatchNormalization: (options) => new BatchNormalization(options),
  Add: (options) => new Add(options),
  Concatenate: (options) => new Concatenate(options),
};
