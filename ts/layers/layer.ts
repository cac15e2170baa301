/**
 * What every layer is: shapes checked when it is applied to symbolic tensors, weights made once when a model
 * builds it (seeded), then called on batches. Shapes exclude the batch axis.
 */
import { ShapeError, ValueError, describe } from '../errors.js';
import type { Shape, Tensor } from '../tensor.js';

/** A node of a model graph: a layer applied to symbolic inputs (or a model input when `layer` is null). */
export interface GraphNode {
  readonly layer: Layer | null;
  readonly inputs: readonly SymbolicTensor[];
  readonly output: SymbolicTensor;
  /** An input's name (kiln.input({ name })). */
  readonly inputName?: string;
}

/** A tensor of a graph being built: a shape (no batch axis) and the node that makes it. */
export class SymbolicTensor {
  readonly shape: Shape;
  readonly node: GraphNode;
  constructor(shape: Shape, layer: Layer | null, inputs: readonly SymbolicTensor[], inputName?: string) {
    this.shape = Object.freeze([...shape]);
    this.node = { layer, inputs, output: this, inputName };
  }
  toString(): string {
    return `SymbolicTensor([${this.shape}] from ${this.node.layer ? this.node.layer.label : `input '${this.node.inputName}'`})`;
  }
}

/** A model input: `kiln.input({ shape: [32, 32, 3] })`. */
export function input(options: { shape: Shape; name?: string }): SymbolicTensor {
  const { shape, name } = options ?? ({} as never);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ShapeError(`input(): shape must list positive sizes per example (no batch axis), got ${JSON.stringify(shape)}`);
  }
  if (name !== undefined && (typeof name !== 'string' || name === '')) throw new ValueError(`input(): name must be a non-empty string, got ${describe(name)}`);
  return new SymbolicTensor(shape, null, [], name);
}

export interface LayerOptions {
  /** Unique within a model; names the layer's weights in the model file (default: its kind, numbered). */
  name?: string;
}

export abstract class Layer {
  abstract readonly kind: string;
  /** Set from the options or by the first model that holds the layer. */
  name?: string;
  /** Trainable weights (empty for layers without any), named by `weightNames`. */
  weights: Tensor[] = [];
  /** Whether `call` takes an array of inputs (merge layers). */
  readonly multiInput: boolean = false;
  private builtFor: string | null = null;

  constructor(options: LayerOptions = {}) {
    if (options.name !== undefined && (typeof options.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(options.name))) {
      throw new ValueError(`layer name must be letters, digits, '_', '.' or '-', got ${describe(options.name)}`);
    }
    this.name = options.name;
  }

  /** How errors name the layer: its name, else its kind. */
  get label(): string {
    return this.name ? `${this.kind} '${this.name}'` : this.kind;
  }

  /** The output shape for inputs of these shapes; throws ShapeError naming the layer when they do not fit. */
  abstract outputShape(inputShape: Shape | Shape[]): Shape;

  /** Forward pass on a batch; `training` switches dropout and batch statistics. */
  abstract call(x: Tensor | Tensor[], training: boolean): Tensor;

  /** The options that rebuild this layer (JSON), for the model file. */
  abstract config(): Record<string, unknown>;

  /** Names of `weights` in order, e.g. ['kernel', 'bias']. */
  get weightNames(): string[] {
    return [];
  }

  /** State that is saved but not trained (batch norm's moving averages), named by `stateNames`. */
  get state(): Tensor[] {
    return [];
  }

  get stateNames(): string[] {
    return [];
  }

  /** Makes the weights for inputs of `inputShape` (once; a shared layer is built by its first use). */
  build(inputShape: Shape | Shape[], seed: number): Shape {
    const out = this.outputShape(inputShape);
    const key = JSON.stringify(inputShape);
    if (this.builtFor === null) {
      this.createWeights(inputShape, seed);
      this.builtFor = key;
    } else if (this.builtFor !== key) {
      throw new ShapeError(`${this.label}: was built for inputs ${this.builtFor}, now applied to ${key}`);
    }
    return out;
  }

  get built(): boolean {
    return this.builtFor !== null;
  }

  /** Creates the weights and state for `inputShape`; layers without any keep this default. */
  protected createWeights(_inputShape: Shape | Shape[], _seed: number): void {}

  /** The shapes `weights` and `state` take for inputs of `inputShape`, without making them (loading checks a file against these). */
  weightShapes(_inputShape: Shape | Shape[]): { weights: Shape[]; state: Shape[] } {
    return { weights: [], state: [] };
  }

  /** Builds the layer on given tensors (of `weightShapes`), as a loaded model does; the layer takes ownership. */
  adopt(inputShape: Shape | Shape[], weights: Tensor[], state: Tensor[]): Shape {
    const out = this.outputShape(inputShape);
    if (this.builtFor !== null) throw new ValueError(`${this.label}: already built`);
    this.weights = weights;
    this.adoptState(state);
    this.builtFor = JSON.stringify(inputShape);
    return out;
  }

  /** Layers with state take it here (see `adopt`). */
  protected adoptState(_state: Tensor[]): void {}

  /** Connects the layer in a graph: `layers.dense(10).apply(x)` (an array of inputs for merge layers). */
  apply(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    list.forEach((t, i) => {
      if (!(t instanceof SymbolicTensor)) {
        throw new ValueError(`${this.label}.apply(): input ${i} must be a symbolic tensor from kiln.input() or another layer's apply(), got ${describe(t)}; call a model on values instead`);
      }
    });
    if (this.multiInput !== Array.isArray(inputs)) {
      throw new ValueError(`${this.label}.apply(): takes ${this.multiInput ? 'an array of inputs' : 'one input'}, got ${Array.isArray(inputs) ? `an array of ${list.length}` : 'one'}`);
    }
    const shape = this.outputShape(this.multiInput ? list.map((t) => t.shape) : list[0].shape);
    return new SymbolicTensor(shape, this, list);
  }

  dispose(): void {
    for (const t of [...this.weights, ...this.state]) t.dispose();
  }
}

/** The one input shape of a single-input layer. */
export function single(layer: Layer, inputShape: Shape | Shape[]): Shape {
  if (inputShape.length > 0 && Array.isArray(inputShape[0])) throw new ValueError(`${layer.label}: takes one input, got ${inputShape.length}`);
  return inputShape as Shape;
}
