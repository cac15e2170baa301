/**
 * The one model class: a graph of layers from symbolic inputs to outputs (Keras' functional API), with
 * compile → fit → evaluate / predict and summary(). `sequential()` builds a chain of it.
 */
import { ShapeError, ValueError, describe } from '../errors.js';
import { noGrad } from '../autograd/tape.js';
import type { Conv2D, Pooling2D } from '../layers/conv.js';
import type { Layer, SymbolicTensor } from '../layers/layer.js';
import { scope, type Shape, type Tensor } from '../tensor.js';
import type { Optimizer } from '../optim/optimizers.js';
import { buildGraph, type Graph } from './graph.js';
import { modelToBytes } from '../io/model-file.js';
import { saveBytes } from '../io/sources.js';
import { compileOptions, type CompileOptions, type Compiled } from './compile.js';
import { evaluateModel, fitModel, predictModel, type EvaluateOptions, type FitOptions, type History, type PredictOptions, type TrainingPosition } from './training.js';
import type { Inputs, Targets } from './data.js';
import type { Logs } from './callbacks.js';

export interface ModelOptions {
  inputs: SymbolicTensor | SymbolicTensor[];
  outputs: SymbolicTensor | SymbolicTensor[];
  /** Seeds the weights: layer i (in order of first use) is initialised from seed·1000 + i (default 1). */
  seed?: number;
  name?: string;
  /** What the model says about itself (class names, input scaling …); saved in the model file. */
  metadata?: ModelMetadata;
  /** Internal (loading): builds a layer on given weights instead of initialising them. */
  restore?: (layer: Layer, inputShape: Shape | Shape[]) => void;
}

/** JSON-serialisable facts about a model, kept in its file: e.g. { classNames: [...], inputScale: 1 / 255 }. */
export type ModelMetadata = Record<string, unknown>;

export class Model {
  readonly graph: Graph;
  readonly name: string;
  readonly seed: number;
  metadata: ModelMetadata;
  /** Set by compile(). */
  compiled: Compiled | null = null;
  /** A callback may set this to end fit() after the current batch (Keras' stop_training). */
  stopTraining = false;
  /** While fit() runs: the next batch and the epoch's sums so far (what a checkpoint saves). */
  trainingPosition: TrainingPosition | null = null;

  constructor(options: ModelOptions, op = 'model()') {
    const { inputs, outputs, seed = 1, name = 'model', metadata = {}, restore } = options ?? ({} as never);
    if (!Number.isInteger(seed) || seed < 0) throw new ValueError(`${op}: seed must be a non-negative integer, got ${describe(seed)}`);
    this.graph = buildGraph(op, inputs, outputs);
    this.name = name;
    this.seed = seed;
    this.metadata = metadata;
    for (const node of this.graph.nodes) {
      const layer = node.layer;
      if (!layer) continue;
      const shapes = node.inputs.map((t) => t.shape);
      const inputShape = layer.multiInput ? shapes : shapes[0];
      if (restore && !layer.built) restore(layer, inputShape);
      else layer.build(inputShape, seed * 1000 + this.graph.layers.indexOf(layer));
    }
  }

  get layers(): readonly Layer[] {
    return this.graph.layers;
  }

  get inputs(): readonly SymbolicTensor[] {
    return this.graph.inputs;
  }

  get outputs(): readonly SymbolicTensor[] {
    return this.graph.outputs;
  }

  /** The input shape (no batch axis) of a single-input model. */
  get inputShape(): Shape {
    return this.only('inputShape', this.graph.inputs).shape;
  }

  get outputShape(): Shape {
    return this.only('outputShape', this.graph.outputs).shape;
  }

  private only(what: string, list: SymbolicTensor[]): SymbolicTensor {
    if (list.length !== 1) throw new ValueError(`${what}: the model has ${list.length} ${what.startsWith('input') ? 'inputs' : 'outputs'}; use model.${what.startsWith('input') ? 'inputs' : 'outputs'}`);
    return list[0];
  }

  /** Trainable weights, layer by layer (a shared layer's once). */
  get weights(): Tensor[] {
    return this.graph.layers.flatMap((l) => l.weights);
  }

  get parameterCount(): number {
    return this.weights.reduce((n, w) => n + w.size, 0);
  }

  layer(name: string): Layer {
    const found = this.graph.layers.find((l) => l.name === name);
    if (!found) throw new ValueError(`layer(): no layer named '${name}'; the model has ${this.graph.layers.map((l) => l.name).join(', ')}`);
    return found;
  }

  /** Forward pass on batches: one tensor per input ([batch, ...shape]); one output, or an array of them. */
  call(x: Tensor | Tensor[], training?: boolean): Tensor;
  call(x: Tensor | Tensor[], training: boolean, all: true): Tensor[];
  call(x: Tensor | Tensor[], training = false, all = false): Tensor | Tensor[] {
    const { inputs, outputs, steps, inputNames } = this.graph;
    const given = Array.isArray(x) ? x : [x];
    if (given.length !== inputs.length) throw new ValueError(`model: expected ${inputs.length} input tensor(s), got ${given.length}`);
    const values = new Map<SymbolicTensor, Tensor>();
    given.forEach((t, i) => {
      const batch = t?.shape?.[0];
      const want = [batch, ...inputs[i].shape];
      if (!t || t.shape.join() !== want.join() || batch !== given[0].shape[0]) {
        throw new ShapeError(`model: input '${inputNames[i]}' must have shape [batch, ${inputs[i].shape}]${i > 0 ? ` with the batch of input 0 (${given[0].shape[0]})` : ''}, got [${t?.shape}]`);
      }
      values.set(inputs[i], t);
    });
    for (const { node, fusedPool } of steps) {
      const layer = node.layer;
      if (!layer) continue;
      const args = node.inputs.map((t) => values.get(t)!);
      const arg = layer.multiInput ? args : args[0];
      if (fusedPool) {
        // A convolution and the max pooling it alone feeds run in one kernel (no full-size output).
        values.set(fusedPool.output, (layer as Conv2D).call(arg as Tensor, training, (fusedPool.layer as Pooling2D).options));
      } else {
        values.set(node.output, layer.call(arg, training));
      }
    }
    const results = outputs.map((t) => values.get(t)!);
    return all || outputs.length > 1 ? results : results[0];
  }

  /** Layers, output shapes, parameter counts and (for graphs) what each layer reads, as Keras prints them. */
  summary(): string {
    const { nodes, layers, inputNames } = this.graph;
    const label = (t: SymbolicTensor) => (t.node.layer ? `${t.node.layer.name}${nodeIndex(t)}` : inputNames[this.graph.inputs.indexOf(t)]);
    const nodeIndex = (t: SymbolicTensor) => {
      const uses = nodes.filter((n) => n.layer === t.node.layer);
      return uses.length > 1 ? `[${uses.indexOf(t.node)}]` : '';
    };
    const chain = this.isChain();
    const rows = nodes
      .filter((n) => !(chain && n.layer === null))
      .map((n) => {
        const params = n.layer && nodes.find((m) => m.layer === n.layer) === n ? n.layer.weights.reduce((s, w) => s + w.size, 0) : 0;
        const row = [
          n.layer ? `${n.layer.name} (${n.layer.kind})` : `${label(n.output)} (InputLayer)`,
          `(None, ${n.output.shape.join(', ')})`,
          String(params),
        ];
        if (!chain) row.push(n.inputs.map(label).join(', '));
        return row;
      });
    const header = ['Layer (type)', 'Output Shape', 'Param #', ...(chain ? [] : ['Connected to'])];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)) + 2);
    const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join('').trimEnd();
    const rule = '─'.repeat(widths.reduce((a, b) => a + b, 0));
    const nonTrainable = layers.flatMap((l) => l.state).reduce((n, t) => n + t.size, 0);
    return [
      `Model: "${this.name}"`, rule, line(header), rule, ...rows.map(line), rule,
      `Total params: ${(this.parameterCount + nonTrainable).toLocaleString('en-US')}`,
      `Trainable params: ${this.parameterCount.toLocaleString('en-US')}`,
      `Non-trainable params: ${nonTrainable.toLocaleString('en-US')}`,
      rule,
    ].join('\n');
  }

  /** One input, one output, each layer reading the previous one. */
  private isChain(): boolean {
    const { nodes, inputs, outputs } = this.graph;
    return inputs.length === 1 && outputs.length === 1 && nodes.every((n, i) => i === 0 || (n.inputs.length === 1 && n.inputs[0] === nodes[i - 1].output));
  }

  compile(options: CompileOptions): void {
    const compiled = compileOptions(this, options);
    this.compiled?.optimizer.dispose();
    this.compiled = compiled;
  }

  get optimizer(): Optimizer | undefined {
    return this.compiled?.optimizer;
  }

  /** Trains for `epochs`, yielding to the event loop between batches; resolves with per-epoch logs. */
  fit(x: Inputs, y?: Targets, options: FitOptions = {}): Promise<History> {
    return fitModel(this, x, y, options);
  }

  /** Loss and the compiled metrics over all examples. */
  evaluate(x: Inputs, y?: Targets, options: EvaluateOptions = {}): Promise<Logs> {
    return evaluateModel(this, x, y, options);
  }

  /**
   * Outputs for every example, batch by batch, as one tensor: of x [n, ...inputShape], or of a DataSource's
   * examples 0…count-1 (its targets are not used). A single batch tensor may be run synchronously with
   * `predictOnBatch`.
   */
  predict(x: Inputs, options: PredictOptions = {}): Promise<Tensor> {
    return predictModel(this, x, options);
  }

  /** The outputs for one batch tensor, synchronously (inference mode, nothing recorded). */
  predictOnBatch(x: Tensor | Tensor[]): Tensor {
    return scope(() => noGrad(() => this.call(x, false)));
  }

  /** The model file's bytes (safetensors; see docs/format.md), in every runtime. */
  toBytes(options: { metadata?: ModelMetadata } = {}): Promise<Uint8Array> {
    return modelToBytes(this, options.metadata);
  }

  /**
   * Saves the model file: a path in Node (written atomically: a kill leaves the old file or the new one),
   * 'indexeddb://NAME' or 'downloads://NAME' in browsers.
   */
  async save(target: string, options: { metadata?: ModelMetadata } = {}): Promise<void> {
    await saveBytes(target, await this.toBytes(options));
  }

  dispose(): void {
    for (const layer of this.graph.layers) layer.dispose();
    this.compiled?.optimizer.dispose();
  }
}

export function model(options: ModelOptions): Model {
  return new Model(options);
}
