/**
 * The kiln model file: a safetensors file whose tensors are the layers' weights and state, named
 * `<layer>/<weight>` (HWIO kernels, NHWC activations), and whose __metadata__ holds the format and version,
 * the topology (layer configs, graph edges, input shapes), user metadata and a SHA-256 of the tensor bytes.
 * docs/format.md describes it. Loading validates the whole file before allocating a tensor.
 */
import { KilnError, ModelFormatError } from '../errors.js';
import { input, SymbolicTensor, type Layer } from '../layers/layer.js';
import { LAYER_KINDS } from '../layers/registry.js';
import { tensor } from '../ops/creation.js';
import { keep, type Shape, type Tensor } from '../tensor.js';
import { Model, type ModelMetadata } from '../model/model.js';
import { buildGraph, type Graph } from '../model/graph.js';
import { parseJson, readSafetensors, writeSafetensors, type TensorEntry } from './safetensors.js';
import { sha256Hex } from './sha256.js';

export const FORMAT_NAME = 'kiln';
/** Major.minor: a reader takes every minor version of its major (minor versions only add optional fields). */
export const FORMAT_VERSION = '1.0';

/** A tensor of the graph: a model input or a node's output. */
type Ref = { input: number } | { node: number };

interface Topology {
  name: string;
  inputs: { name: string; shape: number[] }[];
  layers: { name: string; kind: string; config: Record<string, unknown> }[];
  /** In the order they run: which layer, reading which tensors. */
  nodes: { layer: number; inputs: Ref[] }[];
  outputs: Ref[];
}

function topologyOf(model: Model): Topology {
  const { inputs, nodes, layers, outputs, inputNames } = model.graph;
  const layerNodes = nodes.filter((n) => n.layer !== null);
  const ref = (t: SymbolicTensor): Ref => (t.node.layer === null ? { input: inputs.indexOf(t) } : { node: layerNodes.indexOf(t.node) });
  return {
    name: model.name,
    inputs: inputs.map((t, i) => ({ name: inputNames[i], shape: [...t.shape] })),
    layers: layers.map((l) => ({ name: l.name!, kind: l.kind, config: { ...l.config(), name: undefined } })),
    nodes: layerNodes.map((n) => ({ layer: layers.indexOf(n.layer!), inputs: n.inputs.map(ref) })),
    outputs: outputs.map(ref),
  };
}

/** Every saved tensor of a model, named as in the file. */
export function namedTensors(model: Model): { name: string; tensor: Tensor }[] {
  return model.layers.flatMap((l) => [
    ...l.weights.map((t, i) => ({ name: `${l.name}/${l.weightNames[i]}`, tensor: t })),
    ...l.state.map((t, i) => ({ name: `${l.name}/${l.stateNames[i]}`, tensor: t })),
  ]);
}

const bytesOf = (values: Float32Array | Int32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

export async function modelToBytes(model: Model, metadata: ModelMetadata = model.metadata): Promise<Uint8Array> {
  const tensors = await Promise.all(
    namedTensors(model).map(async ({ name, tensor: t }) => ({ name, dtype: 'F32' as const, shape: t.shape, bytes: bytesOf(await t.data()) })),
  );
  return writeSafetensors(tensors, {
    format: FORMAT_NAME,
    format_version: FORMAT_VERSION,
    topology: JSON.stringify(topologyOf(model)),
    metadata: JSON.stringify(metadata ?? {}),
    sha256: sha256Hex(...tensors.map((t) => t.bytes)),
  });
}

const fail = (message: string): never => {
  throw new ModelFormatError(`model file: ${message}`);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkVersion(version: string | undefined): void {
  if (version === undefined) fail('__metadata__.format_version is missing');
  const match = /^(\d+)\.(\d+)$/.exec(version!);
  if (!match) fail(`__metadata__.format_version must be MAJOR.MINOR, got ${JSON.stringify(version)}`);
  if (match![1] !== FORMAT_VERSION.split('.')[0]) fail(`format version ${version} is not readable by this kiln (it reads ${FORMAT_VERSION.split('.')[0]}.x)`);
}

/** The topology, checked for shape: what refers to what, and only earlier tensors. */
function parseTopology(text: string | undefined): Topology {
  if (text === undefined) fail('__metadata__.topology is missing');
  const t = parseJson(text!, 'model file topology') as Topology;
  if (!isObject(t) || !Array.isArray(t.inputs) || !Array.isArray(t.layers) || !Array.isArray(t.nodes) || !Array.isArray(t.outputs)) {
    fail('topology must be an object with inputs, layers, nodes and outputs arrays');
  }
  t.inputs.forEach((i, k) => {
    const ok = isObject(i) && typeof i.name === 'string' && Array.isArray(i.shape) && i.shape.length <= 8 && i.shape.every((d) => Number.isSafeInteger(d) && d > 0 && d <= 2 ** 31);
    if (!ok) fail(`topology.inputs[${k}] must be { name, shape } with at most 8 positive sizes, got ${JSON.stringify(i).slice(0, 100)}`);
  });
  t.layers.forEach((l, k) => {
    if (!isObject(l) || typeof l.name !== 'string' || typeof l.kind !== 'string' || !isObject(l.config)) fail(`topology.layers[${k}] must be { name, kind, config }`);
    if (!Object.hasOwn(LAYER_KINDS, l.kind)) fail(`topology.layers[${k}] ('${l.name}') has unknown kind ${JSON.stringify(l.kind)}; this kiln knows ${Object.keys(LAYER_KINDS).join(', ')}`);
  });
  const checkRef = (r: Ref, nodesBefore: number, where: string) => {
    const ok = isObject(r) && (('input' in r && Number.isInteger(r.input) && r.input >= 0 && r.input < t.inputs.length) || ('node' in r && Number.isInteger(r.node) && r.node >= 0 && r.node < nodesBefore));
    if (!ok) fail(`${where} must name an input or an earlier node, got ${JSON.stringify(r).slice(0, 100)}`);
  };
  t.nodes.forEach((n, k) => {
    if (!isObject(n) || !Number.isInteger(n.layer) || n.layer < 0 || n.layer >= t.layers.length || !Array.isArray(n.inputs) || n.inputs.length === 0) {
      fail(`topology.nodes[${k}] must be { layer: index, inputs: [...] }`);
    }
    n.inputs.forEach((r, j) => checkRef(r, k, `topology.nodes[${k}].inputs[${j}]`));
  });
  if (t.outputs.length === 0) fail('topology.outputs is empty');
  t.outputs.forEach((r, j) => checkRef(r, t.nodes.length, `topology.outputs[${j}]`));
  return t;
}

/** Rebuilds the graph from the topology with shapes only (nothing allocated); layer errors become format errors. */
function graphOf(t: Topology): { inputs: SymbolicTensor[]; outputs: SymbolicTensor[] } {
  const layers = t.layers.map((l, k) => {
    try {
      return LAYER_KINDS[l.kind]({ ...l.config, name: l.name } as never);
    } catch (error) {
      return fail(`layer '${l.name}' (topology.layers[${k}], ${l.kind}): ${(error as Error).message}`);
    }
  });
  const inputs = t.inputs.map((i) => input({ shape: i.shape, name: i.name }));
  const produced: SymbolicTensor[] = [];
  const resolve = (r: Ref) => ('input' in r ? inputs[r.input] : produced[r.node]);
  t.nodes.forEach((n, k) => {
    const layer = layers[n.layer];
    const args = n.inputs.map(resolve);
    try {
      produced.push(layer.apply(layer.multiInput ? args : args.length === 1 ? args[0] : (args as never)));
    } catch (error) {
      fail(`topology.nodes[${k}] (layer '${layer.name}'): ${(error as Error).message}`);
    }
  });
  return { inputs, outputs: t.outputs.map(resolve) };
}

/** float32 values of a stored tensor (F32 as is, F16 widened), copied so the file's bytes need no alignment. */
function floatsOf(entry: TensorEntry): Float32Array {
  if (entry.dtype === 'F32') return new Float32Array(entry.bytes.slice().buffer);
  if (entry.dtype !== 'F16') fail(`tensor '${entry.name}' is ${entry.dtype}; layer weights are F32 or F16`);
  const halves = new Uint16Array(entry.bytes.slice().buffer);
  return Float32Array.from(halves, halfToFloat);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** A model from its file's bytes, validated whole (header, offsets, checksum, topology, names and shapes) first. */
export function modelFromBytes(bytes: Uint8Array): Model {
  const file = readSafetensors(bytes);
  const { metadata } = file;
  if (metadata.format !== FORMAT_NAME) fail(`__metadata__.format must be '${FORMAT_NAME}', got ${JSON.stringify(metadata.format)} (a safetensors file, but not a kiln model)`);
  checkVersion(metadata.format_version);
  const digest = sha256Hex(file.data);
  if (metadata.sha256 !== digest) fail(`the tensor bytes' SHA-256 is ${digest}, the file says ${JSON.stringify(metadata.sha256)}: the file is corrupted`);
  const userMetadata = metadata.metadata === undefined ? {} : parseJson(metadata.metadata, 'model file metadata');
  if (!isObject(userMetadata)) fail('__metadata__.metadata must be a JSON object');
  const topology = parseTopology(metadata.topology);
  const { inputs, outputs } = graphOf(topology);
  // The graph with shapes only: each layer's input shape from its first use, checked before anything is allocated.
  let graph: Graph;
  try {
    graph = buildGraph('model file', inputs, outputs);
  } catch (error) {
    return fail((error as Error).message);
  }
  const inputShapes = new Map<Layer, Shape | Shape[]>();
  for (const { layer, inputs: args } of graph.nodes) {
    if (layer && !inputShapes.has(layer)) inputShapes.set(layer, layer.multiInput ? args.map((a) => a.shape) : args[0].shape);
  }
  const shapesByLayer = new Map<Layer, { weights: Shape[]; state: Shape[] }>();
  const expected = new Set<string>();
  for (const [layer, inputShape] of inputShapes) {
    const shapes = layer.weightShapes(inputShape);
    shapesByLayer.set(layer, shapes);
    const check = (names: string[], list: Shape[]) =>
      list.forEach((shape, i) => {
        const name = `${layer.name}/${names[i]}`;
        expected.add(name);
        const entry = file.tensors.get(name);
        if (!entry) fail(`tensor '${name}' is missing (layer '${layer.name}' needs [${shape}])`);
        if (entry!.shape.join() !== shape.join() || entry!.shape.length !== shape.length) fail(`tensor '${name}' has shape [${entry!.shape}], layer '${layer.name}' needs [${shape}]`);
      });
    check(layer.weightNames, shapes.weights);
    check(layer.stateNames, shapes.state);
  }
  for (const name of file.tensors.keys()) if (!expected.has(name)) fail(`tensor '${name}' belongs to no layer of the topology`);

  const made: Tensor[] = [];
  const make = (layer: Layer, names: string[]) => names.map((n) => {
    const entry = file.tensors.get(`${layer.name}/${n}`)!;
    const t = keep(tensor(floatsOf(entry), entry.shape));
    made.push(t);
    return t;
  });
  try {
    return new Model({
      inputs,
      outputs,
      name: typeof topology.name === 'string' ? topology.name : 'model',
      metadata: userMetadata as ModelMetadata,
      restore: (layer, inputShape) => {
        const shapes = shapesByLayer.get(layer)!;
        layer.adopt(inputShape, make(layer, layer.weightNames.slice(0, shapes.weights.length)), make(layer, layer.stateNames.slice(0, shapes.state.length)));
      },
    });
  } catch (error) {
    for (const t of made) t.dispose();
    if (error instanceof ModelFormatError || !(error instanceof KilnError)) throw error;
    return fail((error as Error).message);
  }
}
