/** Layer factories, Keras-style: `layers.conv2d(32, 3, { activation: 'relu' })`. */
import type { Pair } from '../ops/geometry.js';
import type { Pool2dOptions } from '../ops/conv.js';
import type { Shape } from '../tensor.js';
import { Activation, Dense, Dropout, Flatten, LeakyReLU, Reshape, Softmax, type DenseOptions } from './core.js';
import { Conv2D, GlobalAveragePooling2D, Pooling2D, ZeroPadding2D, type Conv2DOptions, type Padding2D } from './conv.js';
import type { ActivationName } from './activations.js';
import type { LayerOptions } from './layer.js';
import { Add, Concatenate } from './merge.js';
import { BatchNormalization, type BatchNormalizationOptions } from './norm.js';

export const dense = (units: number, options?: DenseOptions) => new Dense(units, options);
export const conv2d = (filters: number, kernelSize: Pair, options?: Conv2DOptions) => new Conv2D(filters, kernelSize, options);
export const maxPooling2d = (options: Pool2dOptions & LayerOptions = {}) => new Pooling2D('MaxPooling2D', options);
export const averagePooling2d = (options: Pool2dOptions & LayerOptions = {}) => new Pooling2D('AveragePooling2D', options);
export const globalAveragePooling2d = (options?: LayerOptions) => new GlobalAveragePooling2D(options);
export const zeroPadding2d = (padding?: Padding2D, options?: LayerOptions) => new ZeroPadding2D(padding, options);
export const flatten = (options?: LayerOptions) => new Flatten(options);
export const reshape = (targetShape: Shape, options?: LayerOptions) => new Reshape(targetShape, options);
export const dropout = (rate: number, options?: LayerOptions) => new Dropout(rate, options);
export const activation = (name: ActivationName, options?: LayerOptions) => new Activation(name, options);
export const leakyRelu = (options?: LayerOptions & { alpha?: number }) => new LeakyReLU(options);
export const softmax = (options?: LayerOptions) => new Softmax(options);
export const batchNormalization = (options?: BatchNormalizationOptions) => new BatchNormalization(options);
export const add = (options?: LayerOptions) => new Add(options);
export const concatenate = (options?: LayerOptions & { axis?: number }) => new Concatenate(options);

export { Layer, SymbolicTensor } from './layer.js';
export type { DenseOptions, Conv2DOptions, ActivationName, LayerOptions, Padding2D };
