/**
 * A stack of layers with Keras' training API: compile → fit → evaluate / predict, and summary().
 * fit() runs each batch as one `valueAndGrads` step (forward, loss, tape backward) and one optimizer update.
 */
import { valueAndGrads, noGrad } from '../autograd/tape.js';
import { KilnError, ShapeError, ValueError, describe } from '../errors.js';
import { fromBytes, tensor } from '../ops/creation.js';
import { scope, type Shape, type Tensor } from '../tensor.js';
import { assertPositiveInt, float32Divisor, sizeOf } from '../ops/validate.js';
import { mulberry32, shuffleInPlace } from '../random.js';
import type { Layer } from '../layers/layer.js';
import { Conv2D } from '../layers/conv.js';
import { Adam, type Optimizer } from '../optim/optimizers.js';
import { lossByName, type LossFn, type LossName } from './losses.js';

/** Training stopped because the loss stopped being a number. */
export class NonFiniteLossError extends KilnError {}

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

export interface CompileOptions {
  optimizer?: Optimizer;
  loss: LossName | LossFn;
  /** For the cross-entropy losses: the model outputs logits (recommended) rather than probabilities. */
  fromLogits?: boolean;
  /** 'accuracy' compares argmax of the outputs with class labels. */
  metrics?: 'accuracy'[];
}

export type Logs = Record<string, number>;

export interface Callback {
  onEpochBegin?(epoch: number, info: { steps: number }): void;
  onBatchEnd?(batch: number, logs: Logs & { examples: number }): void;
  onEpochEnd?(epoch: number, logs: Logs): void;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  /** Fraction of the examples (taken from the end, before shuffling) held out for validation. */
  validationSplit?: number;
  validationData?: [Float32Array | Tensor | DataSource, (Float32Array | Int32Array | Tensor)?];
  /** Examples per batch when validating (default: batchSize); inference keeps no activations for a backward pass, so larger batches fit. */
  validationBatchSize?: number;
  callbacks?: Callback[];
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

function toArray(value: Float32Array | Int32Array | Tensor): Float32Array | Int32Array {
  return value instanceof Float32Array || value instanceof Int32Array ? value : value.dataSync();
}

function isDataSource(x: Float32Array | Tensor | DataSource): x is DataSource {
  return !(x instanceof Float32Array) && !('dataSync' in x) && typeof (x as DataSource).batch === 'function';
}

class ArraySource implements DataSource {
  constructor(
    private readonly x: Float32Array,
    private readonly y: Float32Array | Int32Array,
    private readonly exampleSize: number,
    private readonly targetSize: number,
    readonly count: number,
    private readonly offset = 0,
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
}

export class Sequential {
  readonly layers: readonly Layer[];
  readonly inputShape: Shape;
  readonly outputShape: Shape;
  private readonly shapes: Shape[];
  private compiled: { optimizer: Optimizer; loss: LossFn; accuracy: boolean; sparse: boolean } | null = null;

  constructor(layers: Layer[], options: { inputShape: Shape; seed?: number }) {
    if (!Array.isArray(layers) || layers.length === 0) throw new ValueError(`sequential(): layers must be a non-empty array, got ${describe(layers)}`);
    const { inputShape, seed = 1 } = options ?? ({} as never);
    if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new ShapeError(`sequential(): inputShape must list positive sizes per example (no batch axis), got ${JSON.stringify(inputShape)}`);
    }
    this.layers = layers;
    this.inputShape = inputShape;
    this.shapes = [];
    let shape: Shape = inputShape;
    layers.forEach((layer, i) => {
      shape = layer.build(shape, seed * 1000 + i);
      this.shapes.push(shape);
    });
    this.outputShape = shape;
  }

  get weights(): Tensor[] {
    return this.layers.flatMap((l) => l.weights);
  }

  get parameterCount(): number {
    return this.weights.reduce((n, w) => n + w.size, 0);
  }

  /** Layers, output shapes and parameter counts, as Keras prints them. */
  summary(): string {
    const rows = this.layers.map((layer, i) => [
      `${layer.kind.toLowerCase()}_${i} (${layer.kind})`,
      `(None, ${this.shapes[i].join(', ')})`,
      String(layer.weights.reduce((n, w) => n + w.size, 0)),
    ]);
    const header = ['Layer (type)', 'Output Shape', 'Param #'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)) + 2);
    const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join('');
    const rule = '─'.repeat(widths.reduce((a, b) => a + b, 0));
    return [rule, line(header), rule, ...rows.map(line), rule, `Total params: ${this.parameterCount.toLocaleString('en-US')}`, rule].join('\n');
  }

  compile(options: CompileOptions): void {
    const { optimizer = new Adam(), loss, fromLogits = false, metrics = [] } = options ?? ({} as never);
    const lossFn = typeof loss === 'function' ? loss : lossByName(loss, fromLogits);
    if (!metrics.every((m) => m === 'accuracy')) throw new ValueError(`compile(): metrics may contain 'accuracy', got ${describe(metrics)}`);
    this.compiled?.optimizer.dispose();
    this.compiled = { optimizer, loss: lossFn, accuracy: metrics.includes('accuracy'), sparse: loss === 'sparseCategoricalCrossentropy' };
  }

  /** Forward pass of a batch [n, ...inputShape]. */
  call(x: Tensor, training = false): Tensor {
    const expected = [x.shape[0], ...this.inputShape];
    if (x.shape.join() !== expected.join()) {
      throw new ShapeError(`model: input must have shape [batch, ${this.inputShape}], got [${x.shape}]`);
    }
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const next = this.layers[i + 1];
      // A convolution followed by a max pooling it can fuse runs both in one kernel (no full-size output).
      if (layer instanceof Conv2D && layer.fuses(next)) {
        h = layer.call(h, training, next.options);
        i++;
      } else {
        h = layer.call(h, training);
      }
    }
    return h;
  }

  private source(op: string, x: Float32Array | Tensor | DataSource, y?: Float32Array | Int32Array | Tensor): DataSource {
    if (isDataSource(x)) return x;
    const exampleSize = sizeOf(this.inputShape);
    const xs = toArray(x as Float32Array | Tensor);
    if (!(xs instanceof Float32Array)) throw new ValueError(`${op}: x must be float32, got int32`);
    if (xs.length % exampleSize !== 0) {
      throw new ShapeError(`${op}: x has ${xs.length} values, not a multiple of one example [${this.inputShape}] = ${exampleSize}`);
    }
    const count = xs.length / exampleSize;
    if (y === undefined) throw new ValueError(`${op}: y is required with array or tensor inputs`);
    const ys = toArray(y);
    if (ys.length % count !== 0 || ys.length === 0) throw new ShapeError(`${op}: x has ${count} examples but y has ${ys.length} values`);
    return new ArraySource(xs, ys, exampleSize, ys.length / count, count);
  }

  private checkTargets(op: string, y: Float32Array | Int32Array): void {
    if (!this.compiled?.sparse) return;
    const classes = this.outputShape[this.outputShape.length - 1];
    const bad = y.findIndex((label) => !(Number.isInteger(label) && label >= 0 && label < classes));
    if (bad >= 0) throw new ValueError(`${op}: label at example ${bad} must be an integer class in [0, ${classes}), got ${y[bad]}`);
  }

  private batchTensors(op: string, source: DataSource, indices: Int32Array, epoch: number) {
    const { x, y } = source.batch(indices, epoch);
    this.checkTargets(op, y);
    const targetShape = y.length === indices.length ? [indices.length] : [indices.length, y.length / indices.length];
    const targets = tensor(y, targetShape, y instanceof Int32Array ? 'int32' : 'float32');
    try {
      return { x: this.inputTensor(op, source, x, indices.length), y: targets };
    } catch (error) {
      targets.dispose();
      throw error;
    }
  }

  /** The inputs of a batch of `count` examples from `source`: floats as given, bytes divided by its bytesDivisor. */
  private inputTensor(op: string, source: DataSource, x: Float32Array | Uint8Array, count: number): Tensor {
    const shape = [count, ...this.inputShape];
    if (!(x instanceof Uint8Array)) return tensor(x, shape);
    return fromBytes(x, shape, float32Divisor(op, "the source's bytesDivisor", source.bytesDivisor ?? 1));
  }

  private requireCompiled(op: string) {
    if (!this.compiled) throw new ValueError(`${op}: call compile() first`);
    return this.compiled;
  }

  /** Trains for `epochs`, returning per-epoch loss (and accuracy, validation values). */
  fit(x: Float32Array | Tensor | DataSource, y?: Float32Array | Int32Array | Tensor, options: FitOptions = {}): History {
    const op = 'fit()';
    const { optimizer, loss: lossFn, accuracy } = this.requireCompiled(op);
    const { epochs = 1, batchSize = 32, shuffle = true, seed = 1, validationSplit = 0, validationData, callbacks = [] } = options;
    const { validationBatchSize = batchSize } = options;
    assertPositiveInt(op, 'epochs', epochs);
    assertPositiveInt(op, 'batchSize', batchSize);
    assertPositiveInt(op, 'validationBatchSize', validationBatchSize);
    if (!(validationSplit >= 0 && validationSplit < 1)) throw new ValueError(`${op}: validationSplit must be in [0, 1), got ${describe(validationSplit)}`);
    let train = this.source(op, x, y);
    let validation: DataSource | null = validationData ? this.source(op, validationData[0], validationData[1]) : null;
    if (validationSplit > 0) {
      if (!(train instanceof ArraySource)) throw new ValueError(`${op}: validationSplit needs in-memory data; pass validationData with a DataSource`);
      const held = Math.floor(train.count * validationSplit);
      validation = train.tail(held);
      train = train.head(train.count - held);
    }
    const random = mulberry32(seed);
    const order = Int32Array.from({ length: train.count }, (_, i) => i);
    const steps = Math.ceil(train.count / batchSize);
    const history: History = { epoch: [], history: {} };
    const weights = this.weights;

    for (let epoch = 0; epoch < epochs; epoch++) {
      if (shuffle) shuffleInPlace(order, random);
      callbacks.forEach((c) => c.onEpochBegin?.(epoch, { steps }));
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let step = 0; step < steps; step++) {
        const indices = order.subarray(step * batchSize, Math.min((step + 1) * batchSize, train.count));
        const batch = this.batchTensors(op, train, indices, epoch);
        const { loss, outputs, grads } = valueAndGrads(() => {
          const outputs = this.call(batch.x, true);
          return { loss: lossFn(outputs, batch.y), outputs };
        }, weights);
        const lossValue = loss.dataSync()[0];
        if (!Number.isFinite(lossValue)) {
          for (const t of [loss, outputs, batch.x, batch.y, ...grads]) t.dispose();
          throw new NonFiniteLossError(`${op}: the loss became ${lossValue} at epoch ${epoch + 1}, batch ${step + 1}; lower the learning rate or check the data for NaN`);
        }
        optimizer.apply(weights, grads);
        if (accuracy) correct += countCorrect(outputs, batch.y);
        for (const t of [loss, outputs, batch.x, batch.y, ...grads]) t.dispose();
        lossSum += lossValue * indices.length;
        seen += indices.length;
        const logs: Logs & { examples: number } = { loss: lossSum / seen, examples: seen };
        if (accuracy) logs.accuracy = correct / seen;
        callbacks.forEach((c) => c.onBatchEnd?.(step, logs));
      }
      const logs: Logs = { loss: lossSum / seen };
      if (accuracy) logs.accuracy = correct / seen;
      if (validation) {
        const v = this.evaluateSource(op, validation, validationBatchSize);
        for (const [k, value] of Object.entries(v)) logs[`val_${k}`] = value;
      }
      history.epoch.push(epoch);
      for (const [k, value] of Object.entries(logs)) (history.history[k] ??= []).push(value);
      callbacks.forEach((c) => c.onEpochEnd?.(epoch, logs));
    }
    return history;
  }

  private evaluateSource(op: string, source: DataSource, batchSize: number): Logs {
    const { loss: lossFn, accuracy } = this.requireCompiled(op);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < source.count; start += batchSize) {
      const indices = Int32Array.from({ length: Math.min(batchSize, source.count - start) }, (_, i) => start + i);
      const batch = this.batchTensors(op, source, indices, 0);
      scope(() =>
        noGrad(() => {
          const outputs = this.call(batch.x, false);
          lossSum += lossFn(outputs, batch.y).dataSync()[0] * indices.length;
          if (accuracy) correct += countCorrect(outputs, batch.y);
        }),
      );
      batch.x.dispose();
      batch.y.dispose();
    }
    const logs: Logs = { loss: lossSum / source.count };
    if (accuracy) logs.accuracy = correct / source.count;
    return logs;
  }

  /** Loss (and accuracy) over all examples. */
  evaluate(x: Float32Array | Tensor | DataSource, y?: Float32Array | Int32Array | Tensor, options: { batchSize?: number } = {}): Logs {
    const { batchSize = 32 } = options;
    assertPositiveInt('evaluate()', 'batchSize', batchSize);
    return this.evaluateSource('evaluate()', this.source('evaluate()', x, y), batchSize);
  }

  /**
   * Model outputs for every example, batch by batch, as one tensor: of x [n, ...inputShape], or of a DataSource's
   * examples 0…count-1 (its targets are not used).
   */
  predict(x: Float32Array | Tensor | DataSource, options: { batchSize?: number } = {}): Tensor {
    const op = 'predict()';
    const { batchSize = 32 } = options;
    assertPositiveInt(op, 'batchSize', batchSize);
    let count: number;
    let inputs: (start: number, n: number) => Tensor;
    if (isDataSource(x)) {
      count = x.count;
      inputs = (start, n) => this.inputTensor(op, x, x.batch(Int32Array.from({ length: n }, (_, i) => start + i), 0).x, n);
    } else {
      const xs = toArray(x);
      const exampleSize = sizeOf(this.inputShape);
      if (!(xs instanceof Float32Array) || xs.length % exampleSize !== 0) {
        throw new ShapeError(`${op}: x must be float32 with a multiple of [${this.inputShape}] = ${exampleSize} values, got ${xs.length}`);
      }
      count = xs.length / exampleSize;
      inputs = (start, n) => tensor(xs.subarray(start * exampleSize, (start + n) * exampleSize), [n, ...this.inputShape]);
    }
    const outSize = sizeOf(this.outputShape);
    const out = new Float32Array(count * outSize);
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      scope(() => noGrad(() => out.set(this.call(inputs(start, n), false).dataSync() as Float32Array, start * outSize)));
    }
    return tensor(out, [count, ...this.outputShape]);
  }

  dispose(): void {
    for (const layer of this.layers) layer.dispose();
    this.compiled?.optimizer.dispose();
  }
}

/** Examples whose argmax output equals the class label (or the argmax of a one-hot target). */
function countCorrect(outputs: Tensor, targets: Tensor): number {
  const values = outputs.dataSync();
  const classes = outputs.shape[outputs.rank - 1];
  const labels = targets.dataSync();
  const targetWidth = labels.length / outputs.shape[0];
  let correct = 0;
  for (let i = 0; i < outputs.shape[0]; i++) {
    const label = targetWidth === 1 ? labels[i] : argmax(labels, i * targetWidth, targetWidth);
    if (argmax(values, i * classes, classes) === label) correct++;
  }
  return correct;
}

function argmax(values: ArrayLike<number>, start: number, length: number): number {
  let best = 0;
  for (let j = 1; j < length; j++) if (values[start + j] > values[start + best]) best = j;
  return best;
}

export function sequential(layers: Layer[], options: { inputShape: Shape; seed?: number }): Sequential {
  return new Sequential(layers, options);
}
