/** Where training, evaluation and prediction take their examples from: arrays in memory or a DataSource. */
import type { Tensor } from '../tensor.js';

/** Examples in memory (`x` row-major, [count, ...inputShape]) or produced batch by batch (e.g. with augmentation). */
export interface DataSource {
  readonly count: number;
  /**
   * Inputs and targets of the examples at `indices`, in that order. fit(), evaluate() copy them before asking
   * for the next batch, so a source may return the same arrays each time, refilled. Inputs given as bytes
   * (e.g. pixels) become float32 `byte / bytesDivisor` inside the backend, in parallel on the threads build.
   */
  batch(indices: Int32Array, epoch: number): { x: Float32Array | Uint8Array; y: Float32Array | Int32Array };
  /** What byte inputs are divided by (default 1): 255 scales pixels to [0, 1]. */
  readonly bytesDivisor?: number;
}

export type Inputs = Float32Array | Tensor | DataSource;
export type Targets = Float32Array | Int32Array | Tensor;

/** The values of an array or a tensor (read asynchronously: a WebGPU backend reads no other way). */
export async function valuesOf(value: Float32Array | Int32Array | Tensor): Promise<Float32Array | Int32Array> {
  return value instanceof Float32Array || value instanceof Int32Array ? value : value.data();
}

export function isDataSource(x: unknown): x is DataSource {
  return typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && !('dataSync' in x) && typeof (x as DataSource).batch === 'function';
}

export class ArraySource implements DataSource {
  constructor(
    readonly x: Float32Array,
    private readonly y: Float32Array | Int32Array,
    private readonly exampleSize: number,
    private readonly targetSize: number,
    readonly count: number,
    readonly offset = 0,
  ) {}
  /** The last batch's arrays, refilled while batches keep their size. */
  private buffers: { x: Float32Array; y: Float32Array | Int32Array } | null = null;

  batch(indices: Int32Array) {
    const { exampleSize, targetSize } = this;
    if (this.buffers?.x.length !== indices.length * exampleSize) {
      const Targets = this.y.constructor as typeof Float32Array | typeof Int32Array;
      this.buffers = { x: new Float32Array(indices.length * exampleSize), y: new Targets(indices.length * targetSize) };
    }
    const { x, y } = this.buffers;
    for (let i = 0; i < indices.length; i++) {
      const at = this.offset + indices[i];
      x.set(this.x.subarray(at * exampleSize, (at + 1) * exampleSize), i * exampleSize);
      y.set(this.y.subarray(at * targetSize, (at + 1) * targetSize), i * targetSize);
    }
    return { x, y };
  }
  /** The last `count` examples as another source (validationSplit). */
  tail(count: number): ArraySource {
    return new ArraySource(this.x, this.y, this.exampleSize, this.targetSize, count, this.offset + this.count - count);
  }
  head(count: number): ArraySource {
    return new ArraySource(this.x, this.y, this.exampleSize, this.targetSize, count, this.offset);
  }
  /** The first example (from this source's start) holding a NaN or infinite input, or −1. */
  firstNonFinite(): number {
    const { x, exampleSize, offset, count } = this;
    return firstNonFiniteExample(x.subarray(offset * exampleSize, (offset + count) * exampleSize), exampleSize);
  }
}

/** The first example of a batch of float inputs holding a NaN or infinity, or −1 (bytes are always finite). */
export function firstNonFiniteExample(x: Float32Array | Uint8Array, exampleSize: number): number {
  if (x instanceof Uint8Array) return -1;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return Math.floor(i / exampleSize);
  return -1;
}
