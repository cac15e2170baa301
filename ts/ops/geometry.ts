/** Output sizes and padding of convolutions and pooling (TensorFlow's 'valid' and 'same' rules). */
import type { Conv2dGeometry, Padding, Pool2dGeometry } from '../backend/backend.js';
import { ShapeError, ValueError, describe } from '../errors.js';

export type Pair = number | [number, number];

export const pair = (op: string, name: string, v: Pair): [number, number] => {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ValueError(`${op}: ${name} must be a positive integer or a pair of them, got ${describe(v)}`);
  }
  return p;
};

function checkPadding(op: string, padding: unknown): Padding {
  if (padding !== 'valid' && padding !== 'same') throw new ValueError(`${op}: padding must be 'valid' or 'same', got ${describe(padding)}`);
  return padding;
}

/** Output size and leading pad along one axis for a window of effective size `window`. */
function axis(op: string, input: number, window: number, stride: number, padding: Padding, name: string) {
  if (padding === 'same') {
    const out = Math.ceil(input / stride);
    const total = Math.max((out - 1) * stride + window - input, 0);
    return { out, padBefore: Math.floor(total / 2) };
  }
  if (window > input) throw new ShapeError(`${op}: window ${window} is larger than the input ${name} ${input} with 'valid' padding`);
  return { out: Math.floor((input - window) / stride) + 1, padBefore: 0 };
}

export function conv2dGeometry(
  op: string, input: readonly number[], filter: readonly number[], strides: Pair, padding: unknown, dilation: Pair,
): Conv2dGeometry {
  const [batch, inH, inW, inC] = input;
  const [kH, kW, filterInC, outC] = filter;
  if (filterInC !== inC) throw new ShapeError(`${op}: filter expects ${filterInC} input channels, the input has ${inC} (shape [${input}])`);
  const [strideH, strideW] = pair(op, 'strides', strides);
  const [dilationH, dilationW] = pair(op, 'dilation', dilation);
  const pad = checkPadding(op, padding);
  const h = axis(op, inH, (kH - 1) * dilationH + 1, strideH, pad, 'height');
  const w = axis(op, inW, (kW - 1) * dilationW + 1, strideW, pad, 'width');
  return {
    batch, inH, inW, inC, outC, kH, kW, strideH, strideW, dilationH, dilationW, padding: pad,
    padTop: h.padBefore, padLeft: w.padBefore, outH: h.out, outW: w.out,
  };
}

export function pool2dGeometry(op: string, input: readonly number[], poolSize: Pair, strides: Pair | undefined, padding: unknown): Pool2dGeometry {
  const [batch, inH, inW, channels] = input;
  const [poolH, poolW] = pair(op, 'poolSize', poolSize);
  const [strideH, strideW] = pair(op, 'strides', strides ?? [poolH, poolW]);
  const pad = checkPadding(op, padding);
  const h = axis(op, inH, poolH, strideH, pad, 'height');
  const w = axis(op, inW, poolW, strideW, pad, 'width');
  return { batch, inH, inW, channels, poolH, poolW, strideH, strideW, padding: pad, padTop: h.padBefore, padLeft: w.padBefore, outH: h.out, outW: w.out };
}
