/** Layer factories, Keras-style: `layers.conv2d(32, 3, { activation: 'relu' })`. */
import type { Pair } from '../ops/geometry.js';
import type { Pool2dOptions } from '../ops/conv.js';
import { Activation, Dense, Dropout, Flatten, type DenseOptions } from './core.js';
import { AveragePooling2D, Conv2D, MaxPooling2D, type Conv2DOptions } from './conv.js';
import type { ActivationName } from './activations.js';
import { BatchNormalization, type BatchNormalizationOptions } from './norm.js';

export const dense = (units: number, options?: DenseOptions) => new Dense(units, options);
export const conv2d = (filters: number, kernelSize: Pair, options?: Conv2DOptions) => new Conv2D(filters, kernelSize, options);
export const maxPooling2d = (options?: Pool2dOptions) => MaxPooling2D(options);
export const averagePooling2d = (options?: Pool2dOptions) => AveragePooling2D(options);
export const flatten = () => new Flatten();
export const dropout = (rate: number) => new Dropout(rate);
export const activation = (name: ActivationName) => new Activation(name);
export const batchNormalization = (options?: BatchNormalizationOptions) => new BatchNormalization(options);

export type { Layer } from './layer.js';
export type { DenseOptions, Conv2DOptions, ActivationName };
