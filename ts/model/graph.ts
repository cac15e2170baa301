/**
 * A model's graph: the nodes between its inputs and outputs in the order they run, layer names, and the
 * fusions found on it (a convolution whose only consumer is a max pooling it can run in its own kernel).
 */
import { ValueError, describe } from '../errors.js';
import { Conv2D } from '../layers/conv.js';
import { SymbolicTensor, type GraphNode, type Layer } from '../layers/layer.js';

export interface Step {
  node: GraphNode;
  /** A max pooling node run inside this convolution (its output is this step's result). */
  fusedPool?: GraphNode;
}

export interface Graph {
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
  /** Every node between inputs and outputs, inputs first, each after the nodes it reads. */
  nodes: GraphNode[];
  /** Distinct layers in order of first use (a shared layer once). */
  layers: Layer[];
  steps: Step[];
  /** Names of the inputs (given or input, input_1, …). */
  inputNames: string[];
}

/** Keras' layer names: Conv2D → conv2d, MaxPooling2D → max_pooling2d, LeakyReLU → leaky_re_lu. */
const snake = (kind: string) => kind.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();

export function buildGraph(op: string, inputsArg: unknown, outputsArg: unknown): Graph {
  const inputs = (Array.isArray(inputsArg) ? inputsArg : [inputsArg]) as SymbolicTensor[];
  const outputs = (Array.isArray(outputsArg) ? outputsArg : [outputsArg]) as SymbolicTensor[];
  for (const [what, list] of [['inputs', inputs], ['outputs', outputs]] as const) {
    if (list.length === 0) throw new ValueError(`${op}: ${what} must not be empty`);
    list.forEach((t, i) => {
      if (!(t instanceof SymbolicTensor)) throw new ValueError(`${op}: ${what}[${i}] must be a symbolic tensor (kiln.input(), layer.apply()), got ${describe(t)}`);
    });
  }
  inputs.forEach((t, i) => {
    if (t.node.layer !== null) throw new ValueError(`${op}: inputs[${i}] must come from kiln.input(), got the output of ${t.node.layer.label}`);
    if (inputs.indexOf(t) !== i) throw new ValueError(`${op}: inputs[${i}] is listed twice`);
  });

  // Depth-first from the outputs: each node after its inputs; inputs must be among the model's.
  const nodes: GraphNode[] = [];
  const done = new Set<GraphNode>();
  const visit = (t: SymbolicTensor, path: string) => {
    const node = t.node;
    if (done.has(node)) return;
    if (node.layer === null) {
      if (!inputs.includes(t)) {
        throw new ValueError(`${op}: ${path} is not reachable from the inputs: it depends on an input of shape [${t.shape}]${node.inputName ? ` ('${node.inputName}')` : ''} that is not among them (a symbolic tensor from another model?)`);
      }
    } else {
      for (const x of node.inputs) visit(x, `${path} (through ${node.layer.label})`);
    }
    done.add(node);
    nodes.push(node);
  };
  outputs.forEach((t, i) => visit(t, `outputs[${i}]`));
  // Inputs first, in the order given (an input no output uses still belongs to the model).
  const ordered = [...inputs.map((t) => t.node), ...nodes.filter((n) => n.layer !== null)];

  const layers: Layer[] = [];
  for (const node of ordered) if (node.layer && !layers.includes(node.layer)) layers.push(node.layer);
  nameLayers(op, layers);
  const inputNames = inputs.map((t, i) => t.node.inputName ?? (i === 0 ? 'input' : `input_${i}`));

  return { inputs, outputs, nodes: ordered, layers, steps: fuse(ordered, outputs), inputNames };
}

/** Gives unnamed layers their kind in snake case, numbered from the second (conv2d, conv2d_1, …). */
function nameLayers(op: string, layers: Layer[]): void {
  const taken = new Set(layers.map((l) => l.name).filter((n) => n !== undefined));
  const counts = new Map<string, number>();
  for (const layer of layers) {
    if (layer.name !== undefined) continue;
    const base = snake(layer.kind);
    let name: string;
    do {
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      name = n === 0 ? base : `${base}_${n}`;
    } while (taken.has(name));
    taken.add(name);
    layer.name = name;
  }
  const seen = new Set<string>();
  for (const layer of layers) {
    if (seen.has(layer.name!)) throw new ValueError(`${op}: two layers are named '${layer.name}'; names must be unique in a model`);
    seen.add(layer.name!);
  }
}

/** Steps in order, a fusable max pooling folded into the convolution it alone reads from. */
function fuse(nodes: GraphNode[], outputs: SymbolicTensor[]): Step[] {
  const consumers = new Map<SymbolicTensor, GraphNode[]>();
  for (const node of nodes) for (const x of node.inputs) consumers.set(x, [...(consumers.get(x) ?? []), node]);
  const folded = new Set<GraphNode>();
  const steps: Step[] = [];
  for (const node of nodes) {
    if (folded.has(node)) continue;
    const readers = consumers.get(node.output) ?? [];
    const pool = readers.length === 1 ? readers[0] : undefined;
    if (node.layer instanceof Conv2D && pool && !outputs.includes(node.output) && node.layer.fuses(pool.layer)) {
      folded.add(pool);
      steps.push({ node, fusedPool: pool });
    } else {
      steps.push({ node });
    }
  }
  return steps;
}
