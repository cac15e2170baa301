/** 2-D convolution (NHWC input, HWIO filter) and pooling, with gradients. */
import { record, willRecord, type Backward } from '../autograd/tape.js';
import { winnerStorageSize, type Conv2dBackwardArgs, type Conv2dGeometry } from '../backend/backend.js';
import { ShapeError, ValueError, describe } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { conv2dGeometry, pair, pool2dGeometry, type Pair } from './geometry.js';
import { allocateTensor, assertRank, assertTensor, sameBackend } from './validate.js';

export interface Conv2dOptions {
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilation?: Pair;
  /** Applied in the kernel as the output is written (default 'linear'). */
  activation?: 'linear' | 'relu';
  /**
   * Max-pools the activated output in the same kernel, which then never writes the full-size output: the op
   * returns the pooled tensor. Windows must neither overlap nor pad (see `isFusableMaxPool`).
   */
  maxPool?: Pool2dOptions;
}

/** Whether conv2d can fuse this max pooling: 'valid' padding, strides at least the window, under 255 cells. */
export function isFusableMaxPool(options: Pool2dOptions): boolean {
  const [poolH, poolW] = pair('maxPool', 'poolSize', options.poolSize ?? 2);
  const [strideH, strideW] = pair('maxPool', 'strides', options.strides ?? [poolH, poolW]);
  return (options.padding ?? 'valid') === 'valid' && strideH >= poolH && strideW >= poolW && poolH * poolW < 255;
}

/** y = act(conv(x, filter) + bias): x [batch, h, w, inC], filter [kh, kw, inC, outC], bias [outC]. */
export function conv2d(x: Tensor, filter: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d()';
  assertTensor(op, 'x', x);
  assertTensor(op, 'filter', filter);
  assertRank(op, 'x', x, 4);
  assertRank(op, 'filter', filter, 4);
  const backend = sameBackend(op, x, filter);
  if (bias !== null) {
    assertTensor(op, 'bias', bias);
    if (bias.size !== filter.shape[3] || bias.rank !== 1) throw new ShapeError(`${op}: bias must have shape [${filter.shape[3]}], got [${bias.shape}]`);
  }
  const activation = options.activation ?? 'linear';
  if (activation !== 'linear' && activation !== 'relu') throw new ValueError(`${op}: activation must be 'linear' or 'relu', got ${describe(activation)}`);
  const g = conv2dGeometry(op, x.shape, filter.shape, options.strides ?? 1, options.padding ?? 'valid', options.dilation ?? 1);
  const relu = activation === 'relu';
  if (options.maxPool !== undefined) return conv2dMaxPool(op, g, x, filter, bias, relu, options.maxPool);
  const y = allocateTensor(backend, [g.batch, g.outH, g.outW, g.outC]);
  backend.conv2d(g, x.storage, filter.storage, bias?.storage ?? null, relu, y.storage);
  return record(y, bias ? [x, filter, bias] : [x, filter], convGradients(g, x, filter, bias, { reluOutput: relu ? y.storage : null }));
}

/** The recorded rule of both convolution ops: conv2dBackward, given how the output relates to `dy`. */
function convGradients(g: Conv2dGeometry, x: Tensor, filter: Tensor, bias: Tensor | null, output: Pick<Conv2dBackwardArgs, 'reluOutput' | 'maxPool'>): Backward {
  const backend = x.backend;
  return (dy, [needInput]) => {
    // The first layer's input (the images) needs no gradient: skip the most expensive half of its backward.
    const dx = needInput ? allocateTensor(backend, x.shape) : null;
    const dFilter = allocateTensor(backend, filter.shape);
    const dBias = bias ? allocateTensor(backend, bias.shape) : null;
    backend.conv2dBackward(g, { x: x.storage, filter: filter.storage, ...output, dy: dy.storage, dx: dx?.storage ?? null, dFilter: dFilter.storage, dBias: dBias?.storage ?? null });
    return [dx, dFilter, dBias];
  };
}

/** conv2d followed by max pooling, in one kernel each way; the winners it records route the gradient. */
function conv2dMaxPool(op: string, g: Conv2dGeometry, x: Tensor, filter: Tensor, bias: Tensor | null, relu: boolean, options: Pool2dOptions): Tensor {
  const pool = pool2dGeometry(`${op} maxPool`, [g.batch, g.outH, g.outW, g.outC], options.poolSize ?? 2, options.strides, options.padding ?? 'valid');
  if (!isFusableMaxPool(options)) {
    throw new ValueError(
      `${op}: maxPool windows must neither overlap nor pad (padding 'valid', strides ≥ poolSize, under 255 cells), got poolSize [${pool.poolH}, ${pool.poolW}], strides [${pool.strideH}, ${pool.strideW}], padding '${pool.padding}'`,
    );
  }
  const backend = x.backend;
  const y = allocateTensor(backend, [pool.batch, pool.outH, pool.outW, pool.channels]);
  const winners = allocateTensor(backend, [winnerStorageSize(pool)], 'int32');
  backend.conv2dMaxPool(g, pool, x.storage, filter.storage, bias?.storage ?? null, relu, y.storage, winners.storage);
  const inputs = bias ? [x, filter, bias] : [x, filter];
  if (!willRecord(inputs)) {
    winners.dispose();
    return y;
  }
  return record(y, inputs, convGradients(g, x, filter, bias, { reluOutput: null, maxPool: { g: pool, winners: winners.storage } }));
}

export interface Pool2dOptions {
  poolSize?: Pair;
  /** Defaults to poolSize. */
  strides?: Pair;
  padding?: 'valid' | 'same';
}

function poolSetup(op: string, x: Tensor, options: Pool2dOptions) {
  assertTensor(op, 'x', x);
  assertRank(op, 'x', x, 4);
  const g = pool2dGeometry(op, x.shape, options.poolSize ?? 2, options.strides, options.padding ?? 'valid');
  return { g, y: allocateTensor(x.backend, [g.batch, g.outH, g.outW, g.channels]) };
}

export function maxPool2d(x: Tensor, options: Pool2dOptions = {}): Tensor {
  const { g, y } = poolSetup('maxPool2d()', x, options);
  x.backend.maxPool(g, x.storage, y.storage);
  // No argmax: backward finds each window's maximum again from x and y, which the tape records and its scope
  // keeps alive until backward has run.
  return record(y, [x], (dy) => {
    const dx = allocateTensor(x.backend, x.shape);
    x.backend.maxPoolBackward(g, x.storage, y.storage, dy.storage, dx.storage);
    return [dx];
  });
}

export function avgPool2d(x: Tensor, options: Pool2dOptions = {}): Tensor {
  const { g, y } = poolSetup('avgPool2d()', x, options);
  x.backend.avgPool(g, x.storage, y.storage);
  return record(y, [x], (dy) => {
    const dx = allocateTensor(x.backend, x.shape);
    x.backend.avgPoolBackward(g, dy.storage, dx.storage);
    return [dx];
  });
}
