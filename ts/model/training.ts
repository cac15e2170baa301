/**
 * fit / evaluate / predict over arrays or a DataSource. Each batch is one `valueAndGrads` step (forward, loss,
 * tape backward) and one optimizer update; between batches the event loop gets a turn, and nothing here reads
 * a tensor synchronously (a backend that only reads asynchronously needs no change).
 */
import { noGrad, valueAndGrads } from '../autograd/tape.js';
import { KilnError, ShapeError, ValueError, describe } from '../errors.js';
import { fromBytes, tensor } from '../ops/creation.js';
import { countNonFinite } from '../ops/reduce.js';
import { assertPositiveInt, float32Divisor, sizeOf } from '../ops/validate.js';
import { mulberry32, shuffleInPlace } from '../random.js';
import { scope, type Tensor } from '../tensor.js';
import type { Callback, Logs } from './callbacks.js';
import type { Compiled } from './compile.js';
import { ArraySource, firstNonFiniteExample, isDataSource, valuesOf, type DataSource, type Inputs, type Targets } from './data.js';
import { EpochMetrics } from './epoch-metrics.js';
import type { Model } from './model.js';

/** Training stopped because the loss (or a gradient) stopped being a number. */
export class NonFiniteLossError extends KilnError {}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  /** Fraction of the examples (taken from the end, before shuffling) held out for validation. */
  validationSplit?: number;
  validationData?: [Inputs, Targets?];
  /** Examples per batch when validating (default: batchSize); inference keeps no activations, so larger batches fit. */
  validationBatchSize?: number;
  callbacks?: Callback[];
  /** Stops after the current batch; fit() then resolves with the epochs completed, the model consistent. */
  signal?: AbortSignal;
  /** Where to continue: a checkpoint's position (see `kiln.restoreCheckpoint`). */
  resume?: TrainingPosition;
}

export interface EvaluateOptions {
  batchSize?: number;
  signal?: AbortSignal;
}

export interface PredictOptions {
  batchSize?: number;
  signal?: AbortSignal;
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
  /** Why training ended before its last epoch: 'aborted' (signal), 'stopped' (a callback), 'nonFinite' (terminateOnNaN). */
  stopped?: 'aborted' | 'stopped' | 'nonFinite';
}

/** Where a fit() is: the next batch to run and the sums behind the current epoch's logs. */
export interface TrainingPosition {
  epoch: number;
  /** The next batch of `epoch` to run. */
  step: number;
  lossSum: number;
  seen: number;
  /** Confusion counts of the epoch so far (the compiled metrics'), row-major. */
  confusion: number[];
  /** The history of the epochs completed. */
  history: History;
}

/** Lets timers, I/O and rendering run: setImmediate in Node, a message (not a clamped timer) in browsers. */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(0);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function requireCompiled(model: Model, op: string): Compiled {
  if (!model.compiled) throw new ValueError(`${op}: call compile() first`);
  return model.compiled;
}

function singleIO(model: Model, op: string): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ValueError(`${op}: works on models with one input and one output (this one has ${model.inputs.length} and ${model.outputs.length}); call model.call() with a tensor per input`);
  }
}

async function sourceOf(model: Model, op: string, x: Inputs, y?: Targets): Promise<DataSource> {
  if (isDataSource(x)) return x;
  const exampleSize = sizeOf(model.inputShape);
  const xs = await valuesOf(x as Float32Array | Tensor);
  if (!(xs instanceof Float32Array)) throw new ValueError(`${op}: x must be float32, got ${describe(xs)}`);
  if (xs.length % exampleSize !== 0) {
    throw new ShapeError(`${op}: x has ${xs.length} values, not a multiple of one example [${model.inputShape}] = ${exampleSize}`);
  }
  const count = xs.length / exampleSize;
  if (y === undefined) throw new ValueError(`${op}: y is required with array or tensor inputs`);
  const ys = await valuesOf(y);
  if (ys.length % count !== 0 || ys.length === 0) throw new ShapeError(`${op}: x has ${count} examples but y has ${ys.length} values`);
  return new ArraySource(xs, ys, exampleSize, ys.length / count, count);
}

function checkTargets(model: Model, op: string, y: Float32Array | Int32Array, firstExample: (i: number) => number): void {
  if (!model.compiled?.sparse) return;
  const classes = model.outputShape[model.outputShape.length - 1];
  const bad = y.findIndex((label) => !(Number.isInteger(label) && label >= 0 && label < classes));
  if (bad >= 0) throw new ValueError(`${op}: label at example ${firstExample(bad)} must be an integer class in [0, ${classes}), got ${y[bad]}`);
}

/** A batch's input and target tensors; non-finite inputs are refused naming the example. */
function batchTensors(model: Model, op: string, source: DataSource, indices: Int32Array, epoch: number) {
  const { x, y } = source.batch(indices, epoch);
  checkTargets(model, op, y, (i) => indices[Math.floor(i / Math.max(1, y.length / indices.length))]);
  const targetShape = y.length === indices.length ? [indices.length] : [indices.length, y.length / indices.length];
  const targets = tensor(y, targetShape, y instanceof Int32Array ? 'int32' : 'float32');
  try {
    return { x: inputTensor(model, op, source, x, indices.length), y: targets };
  } catch (error) {
    targets.dispose();
    throw error;
  }
}

/** The inputs of a batch of `count` examples from `source`: floats as given, bytes divided by its bytesDivisor. */
function inputTensor(model: Model, op: string, source: DataSource, x: Float32Array | Uint8Array, count: number): Tensor {
  const shape = [count, ...model.inputShape];
  if (!(x instanceof Uint8Array)) return tensor(x, shape);
  return fromBytes(x, shape, float32Divisor(op, "the source's bytesDivisor", source.bytesDivisor ?? 1));
}

const range = (start: number, count: number) => Int32Array.from({ length: count }, (_, i) => start + i);

export async function fitModel(model: Model, x: Inputs, y: Targets | undefined, options: FitOptions): Promise<History> {
  const op = 'fit()';
  singleIO(model, op);
  const compiled = requireCompiled(model, op);
  const { epochs = 1, batchSize = 32, shuffle = true, seed = 1, validationSplit = 0, validationData, callbacks = [], signal, resume } = options;
  const { validationBatchSize = batchSize } = options;
  assertPositiveInt(op, 'epochs', epochs);
  assertPositiveInt(op, 'batchSize', batchSize);
  assertPositiveInt(op, 'validationBatchSize', validationBatchSize);
  if (!(validationSplit >= 0 && validationSplit < 1)) throw new ValueError(`${op}: validationSplit must be in [0, 1), got ${describe(validationSplit)}`);
  let train = await sourceOf(model, op, x, y);
  let validation: DataSource | null = validationData ? await sourceOf(model, op, validationData[0], validationData[1]) : null;
  if (validationSplit > 0) {
    if (!(train instanceof ArraySource)) throw new ValueError(`${op}: validationSplit needs in-memory data; pass validationData with a DataSource`);
    const held = Math.floor(train.count * validationSplit);
    validation = train.tail(held);
    train = train.head(train.count - held);
  }
  // In-memory inputs are checked whole before the first step, so a NaN changes no weight.
  if (train instanceof ArraySource) {
    const bad = train.firstNonFinite();
    if (bad >= 0) throw new ValueError(`${op}: the input of example ${bad} holds NaN or infinity; clean or impute the data first`);
  }

  const steps = Math.ceil(train.count / batchSize);
  const weights = model.weights;
  const width = model.outputShape[model.outputShape.length - 1] ?? 1;
  const history: History = resume ? structuredClone(resume.history) : { epoch: [], history: {} };
  const random = mulberry32(seed);
  const order = range(0, train.count);
  const firstEpoch = resume?.epoch ?? 0;
  if (resume && !(Number.isInteger(resume.epoch) && resume.epoch <= epochs && Number.isInteger(resume.step) && resume.step >= 0 && resume.step <= steps)) {
    throw new ValueError(`${op}: the checkpoint is at epoch ${resume.epoch + 1}, batch ${resume.step}, outside this run of ${epochs} epochs of ${steps} batches`);
  }
  // Shuffles are replayed from the seed, so a resumed run visits the examples in the same order.
  if (shuffle) for (let e = 0; e < firstEpoch; e++) shuffleInPlace(order, random);
  model.stopTraining = false;
  for (const c of callbacks) c.setModel?.(model);
  for (const c of callbacks) await c.onTrainBegin?.();

  let lastLogs: Logs = {};
  epochs: for (let epoch = firstEpoch; epoch < epochs; epoch++) {
    if (shuffle) shuffleInPlace(order, random);
    const resumed = resume && epoch === resume.epoch ? resume : null;
    const metrics = new EpochMetrics(compiled.metrics, width, compiled.fromLogits);
    resumed?.confusion.forEach((n, i) => (metrics.confusion[Math.floor(i / metrics.confusion.length)][i % metrics.confusion.length] = n));
    let lossSum = resumed?.lossSum ?? 0;
    let seen = resumed?.seen ?? 0;
    for (const c of callbacks) await c.onEpochBegin?.(epoch, { steps });
    const position = (step: number): TrainingPosition => ({ epoch, step, lossSum, seen, confusion: metrics.confusion.flat(), history });
    model.trainingPosition = position(resumed?.step ?? 0);
    for (let step = resumed?.step ?? 0; step < steps; step++) {
      if (signal?.aborted || model.stopTraining) {
        history.stopped = signal?.aborted ? 'aborted' : 'stopped';
        break epochs;
      }
      const indices = order.subarray(step * batchSize, Math.min((step + 1) * batchSize, train.count));
      const batch = batchTensors(model, op, train, indices, epoch);
      const { loss, outputs, grads } = valueAndGrads(() => {
        const outputs = model.call(batch.x, true);
        return { loss: compiled.loss(outputs, batch.y), outputs };
      }, weights);
      // One count over the inputs and every gradient, read with the loss: a bad step is found before it is applied.
      const nonFinite = countNonFinite([batch.x, ...grads]);
      const free = () => {
        for (const t of [loss, outputs, nonFinite, batch.x, batch.y, ...grads]) t.dispose();
      };
      const [lossValue, badValues] = await Promise.all([loss.data(), nonFinite.data()]).then(([l, g]) => [l[0], g[0]]);
      if (!Number.isFinite(lossValue) || badValues > 0) {
        const badInput = firstNonFiniteExample((await batch.x.data()) as Float32Array, sizeOf(model.inputShape));
        free();
        if (badInput >= 0) throw new ValueError(`${op}: the input of example ${indices[badInput]} holds NaN or infinity; clean or impute the data first`);
        if (callbacks.some((c) => c.onNonFinite?.(epoch, step) === 'stop')) {
          history.stopped = 'nonFinite';
          break epochs;
        }
        const what = Number.isFinite(lossValue) ? `a gradient became non-finite (the loss was ${lossValue})` : `the loss became ${lossValue}`;
        throw new NonFiniteLossError(`${op}: ${what} at epoch ${epoch + 1}, batch ${step + 1}; the step was not applied. Lower the learning rate or check the data`);
      }
      compiled.optimizer.apply(weights, grads);
      const [outputValues, targetValues] = metrics.wanted ? await Promise.all([outputs.data(), batch.y.data()]) : [null, null];
      free();
      if (outputValues) metrics.add(outputValues as Float32Array, targetValues!, indices.length);
      lossSum += lossValue * indices.length;
      seen += indices.length;
      // What a checkpoint written now saves: this batch done, the next one to run.
      model.trainingPosition = position(step + 1);
      const logs: Logs & { examples: number } = { loss: lossSum / seen, ...metrics.logs(), examples: seen };
      for (const c of callbacks) await c.onBatchEnd?.(step, logs);
      await yieldToEventLoop();
    }
    if (signal?.aborted) {
      // Aborted in the epoch's last batch: the epoch ends (validation, logs) when training resumes.
      history.stopped = 'aborted';
      break;
    }
    const logs: Logs = { loss: lossSum / seen, ...metrics.logs() };
    if (validation) {
      const v = await evaluateSource(model, op, validation, validationBatchSize);
      for (const [k, value] of Object.entries(v)) logs[`val_${k}`] = value;
    }
    logs.learning_rate = compiled.optimizer.currentLearningRate();
    history.epoch.push(epoch);
    for (const [k, value] of Object.entries(logs)) (history.history[k] ??= []).push(value);
    // What a checkpoint written by an epoch-end callback saves: the next epoch, from its first batch.
    model.trainingPosition = { epoch: epoch + 1, step: 0, lossSum: 0, seen: 0, confusion: [], history };
    for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
    lastLogs = logs;
    if (model.stopTraining) {
      history.stopped = 'stopped';
      break;
    }
  }
  for (const c of callbacks) await c.onTrainEnd?.(lastLogs);
  model.trainingPosition = null;
  return history;
}

async function evaluateSource(model: Model, op: string, source: DataSource, batchSize: number, signal?: AbortSignal): Promise<Logs> {
  const compiled = requireCompiled(model, op);
  const width = model.outputShape[model.outputShape.length - 1] ?? 1;
  const metrics = new EpochMetrics(compiled.metrics, width, compiled.fromLogits);
  let lossSum = 0;
  let seen = 0;
  for (let start = 0; start < source.count; start += batchSize) {
    if (signal?.aborted) throw new ValueError(`${op}: aborted after ${start} of ${source.count} examples`);
    const indices = range(start, Math.min(batchSize, source.count - start));
    const batch = batchTensors(model, op, source, indices, 0);
    const { loss, outputs } = scope(() =>
      noGrad(() => {
        const outputs = model.call(batch.x, false);
        return { loss: compiled.loss(outputs, batch.y), outputs };
      }),
    );
    const [lossValue, outputValues, targetValues] = await Promise.all([loss.data(), metrics.wanted ? outputs.data() : null, metrics.wanted ? batch.y.data() : null]);
    for (const t of [loss, outputs, batch.x, batch.y]) t.dispose();
    if (outputValues) metrics.add(outputValues as Float32Array, targetValues!, indices.length);
    lossSum += lossValue[0] * indices.length;
    seen += indices.length;
    if (seen < source.count) await yieldToEventLoop();
  }
  return { loss: lossSum / seen, ...metrics.logs() };
}

export async function evaluateModel(model: Model, x: Inputs, y: Targets | undefined, options: EvaluateOptions): Promise<Logs> {
  const op = 'evaluate()';
  singleIO(model, op);
  const { batchSize = 32, signal } = options;
  assertPositiveInt(op, 'batchSize', batchSize);
  return evaluateSource(model, op, await sourceOf(model, op, x, y), batchSize, signal);
}

export async function predictModel(model: Model, x: Inputs, options: PredictOptions): Promise<Tensor> {
  const op = 'predict()';
  singleIO(model, op);
  const { batchSize = 32, signal } = options;
  assertPositiveInt(op, 'batchSize', batchSize);
  const exampleSize = sizeOf(model.inputShape);
  let count: number;
  let inputs: (start: number, n: number) => Tensor;
  if (isDataSource(x)) {
    count = x.count;
    inputs = (start, n) => inputTensor(model, op, x, x.batch(range(start, n), 0).x, n);
  } else {
    const xs = await valuesOf(x);
    if (!(xs instanceof Float32Array) || xs.length % exampleSize !== 0) {
      throw new ShapeError(`${op}: x must be float32 with a multiple of [${model.inputShape}] = ${exampleSize} values, got ${xs.length}`);
    }
    count = xs.length / exampleSize;
    inputs = (start, n) => tensor(xs.subarray(start * exampleSize, (start + n) * exampleSize), [n, ...model.inputShape]);
  }
  const outSize = sizeOf(model.outputShape);
  const out = new Float32Array(count * outSize);
  for (let start = 0; start < count; start += batchSize) {
    if (signal?.aborted) throw new ValueError(`${op}: aborted after ${start} of ${count} examples`);
    const n = Math.min(batchSize, count - start);
    const y = scope(() => noGrad(() => model.call(inputs(start, n), false)));
    out.set((await y.data()) as Float32Array, start * outSize);
    y.dispose();
    if (start + n < count) await yieldToEventLoop();
  }
  return tensor(out, [count, ...model.outputShape]);
}
