/**
 * A kiln model as an ONNX model (opset 17, dynamic batch). Image tensors travel NCHW inside the graph, as ONNX's
 * Conv, pooling and BatchNormalization want them; a Transpose goes in at each image input (unless the caller asks
 * for NCHW inputs) and back to NHWC wherever kiln's layout matters (Flatten, Reshape, softmax, the outputs), so
 * ONNX Runtime computes what kiln computes.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ValueError } from '../../errors.js';
import type { GraphNode, Layer, SymbolicTensor } from '../../layers/layer.js';
import { conv2dGeometry, pool2dGeometry } from '../../ops/geometry.js';
import type { Model } from '../../model/model.js';
import type { Tensor } from '../../tensor.js';
import {
  AttributeProto_AttributeType, AttributeProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema,
  TensorProto_DataType, TensorProtoSchema, TensorShapeProto_DimensionSchema, TensorShapeProtoSchema, TypeProto_TensorSchema, TypeProtoSchema,
  ValueInfoProtoSchema, type AttributeProto, type NodeProto, type TensorProto,
} from './onnx_pb.js';

export const OPSET = 17;

export interface OnnxExportOptions {
  /** The layout image inputs take: 'NHWC' as kiln does (default), or 'NCHW' as PyTorch models do. */
  inputLayout?: 'NHWC' | 'NCHW';
}

type Layout = 'nchw' | 'nhwc' | 'flat';
interface Value { name: string; layout: Layout }
type Attribute = number | number[] | string | { float: number };

class Builder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private used = new Set<string>();

  unique(base: string): string {
    let name = base.replace(/[^A-Za-z0-9_.:/-]/g, '_');
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  node(op: string, inputs: string[], base: string, attributes: Record<string, Attribute> = {}): string {
    const output = this.unique(base);
    this.nodes.push(create(NodeProtoSchema, { opType: op, input: inputs, output: [output], name: this.unique(`${base}/${op}`), attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)) }));
    return output;
  }

  constant(base: string, dims: number[], values: Float32Array | BigInt64Array): string {
    const name = this.unique(base);
    const float = values instanceof Float32Array;
    this.initializers.push(create(TensorProtoSchema, {
      name, dims: dims.map(BigInt), dataType: float ? TensorProto_DataType.FLOAT : TensorProto_DataType.INT64,
      rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
    }));
    return name;
  }

  ints(base: string, values: number[]): string {
    return this.constant(base, [values.length], BigInt64Array.from(values, BigInt));
  }
}

function attribute(name: string, value: Attribute): AttributeProto {
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: value.map(BigInt) });
  if (typeof value === 'object') return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: value.float });
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}

const PERM: Record<string, number[]> = { 'nhwc>nchw': [0, 3, 1, 2], 'nchw>nhwc': [0, 2, 3, 1] };

export async function modelToOnnx(model: Model, options: OnnxExportOptions = {}): Promise<Uint8Array> {
  const b = new Builder();
  const values = new Map<SymbolicTensor, Value>();
  const converted = new Map<string, string>();
  const as = (v: Value, layout: 'nchw' | 'nhwc'): string => {
    if (v.layout === 'flat' || v.layout === layout) return v.name;
    const key = `${v.name}>${layout}`;
    if (!converted.has(key)) converted.set(key, b.node('Transpose', [v.name], `${v.name}_${layout}`, { perm: PERM[`${v.layout}>${layout}`] }));
    return converted.get(key)!;
  };
  const layoutOf = (t: SymbolicTensor): Layout => (t.shape.length === 3 ? 'nchw' : 'flat');

  const inputLayout = options.inputLayout ?? 'NHWC';
  if (inputLayout !== 'NHWC' && inputLayout !== 'NCHW') throw new ValueError(`toOnnx(): inputLayout must be 'NHWC' or 'NCHW', got '${inputLayout}'`);
  const graphInputs = model.inputs.map((t, i) => {
    const name = b.unique(model.graph.inputNames[i]);
    const image = t.shape.length === 3;
    values.set(t, image ? { name, layout: inputLayout === 'NHWC' ? 'nhwc' : 'nchw' } : { name, layout: 'flat' });
    const [h, w, c] = t.shape;
    return valueInfo(name, image && inputLayout === 'NCHW' ? [c, h, w] : [...t.shape]);
  });

  // The graph's output names are the output layers' names: reserved, so no inner value takes them.
  const outputNames = model.outputs.map((t, i) => b.unique(t.node.layer?.name ?? `output_${i}`));
  for (const node of model.graph.nodes) {
    if (!node.layer) continue;
    const ins = node.inputs.map((t) => values.get(t)!);
    values.set(node.output, await exportLayer(b, node, node.layer, ins, as, layoutOf(node.output)));
  }

  const graphOutputs = model.outputs.map((t, i) => {
    const v = values.get(t)!;
    const name = outputNames[i];
    const last = v.layout === 'flat' ? v.name : as(v, 'nhwc');
    b.nodes.push(create(NodeProtoSchema, { opType: 'Identity', input: [last], output: [name], name: b.unique(`${name}/Identity`) }));
    return valueInfo(name, [...t.shape]);
  });

  const graph = create(GraphProtoSchema, { name: model.name, node: b.nodes, initializer: b.initializers, input: graphInputs, output: graphOutputs });
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, {
    irVersion: 8n, producerName: 'kiln', producerVersion: '0.1.0', graph,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(OPSET) })],
  }));
}

function valueInfo(name: string, shape: number[]) {
  const dim = [create(TensorShapeProto_DimensionSchema, { value: { case: 'dimParam', value: 'batch' } }), ...shape.map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } }))];
  const tensorType = create(TypeProto_TensorSchema, { elemType: TensorProto_DataType.FLOAT, shape: create(TensorShapeProtoSchema, { dim }) });
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

const data = async (t: Tensor) => new Float32Array((await t.data()) as Float32Array);

/** The 2-D pads [top, left, bottom, right] of TensorFlow's 'same' rule (more at the end), or zeros. */
function pads(g: { inH: number; inW: number; outH: number; outW: number; strideH: number; strideW: number; padTop: number; padLeft: number }, windowH: number, windowW: number): number[] {
  const bottom = Math.max((g.outH - 1) * g.strideH + windowH - g.inH, 0) - g.padTop;
  const right = Math.max((g.outW - 1) * g.strideW + windowW - g.inW, 0) - g.padLeft;
  return [g.padTop, g.padLeft, Math.max(bottom, 0), Math.max(right, 0)];
}

async function exportLayer(b: Builder, node: GraphNode, layer: Layer, ins: Value[], as: (v: Value, l: 'nchw' | 'nhwc') => string, outLayout: Layout): Promise<Value> {
  const name = layer.name!; // every layer of a built model is named
  const config = layer.config() as Record<string, any>;
  const inShape = node.inputs[0].shape;
  const activation = (x: string, kind: string | undefined, layout: Layout): Value => {
    if (!kind || kind === 'linear') return { name: x, layout };
    if (kind === 'softmax') {
      const v = { name: x, layout };
      return { name: b.node('Softmax', [layout === 'flat' ? x : as(v, 'nhwc')], `${name}_softmax`, { axis: -1 }), layout: layout === 'flat' ? 'flat' : 'nhwc' };
    }
    const op = { relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', leakyRelu: 'LeakyRelu' }[kind];
    if (!op) throw new ValueError(`toOnnx(): ${layer.label} has activation '${kind}', which has no ONNX export`);
    return { name: b.node(op, [x], `${name}_${kind}`, kind === 'leakyRelu' ? { alpha: { float: 0.2 } } : {}), layout };
  };
  switch (layer.kind) {
    case 'Conv2D': {
      const [kernel, bias] = layer.weights;
      const [kh, kw, ci, co] = kernel.shape;
      const hwio = await data(kernel);
      const oihw = new Float32Array(hwio.length);
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) oihw[((o * ci + i) * kh + y) * kw + x] = hwio[((y * kw + x) * ci + i) * co + o];
      const g = conv2dGeometry(layer.label, [1, ...inShape], kernel.shape, config.strides ?? 1, config.padding ?? 'valid', config.dilation ?? 1);
      const inputs = [as(ins[0], 'nchw'), b.constant(`${name}.kernel`, [co, ci, kh, kw], oihw)];
      if (bias) inputs.push(b.constant(`${name}.bias`, [co], await data(bias)));
      const conv = b.node('Conv', inputs, name, {
        kernel_shape: [kh, kw], strides: [g.strideH, g.strideW], dilations: [g.dilationH, g.dilationW],
        pads: pads(g, (kh - 1) * g.dilationH + 1, (kw - 1) * g.dilationW + 1),
      });
      return activation(conv, config.activation, 'nchw');
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const g = pool2dGeometry(layer.label, [1, ...inShape], config.poolSize ?? 2, config.strides, config.padding ?? 'valid');
      const attributes: Record<string, Attribute> = { kernel_shape: [g.poolH, g.poolW], strides: [g.strideH, g.strideW], pads: pads(g, g.poolH, g.poolW) };
      if (layer.kind === 'AveragePooling2D') attributes.count_include_pad = 0;
      return { name: b.node(layer.kind === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [as(ins[0], 'nchw')], name, attributes), layout: 'nchw' };
    }
    case 'GlobalAveragePooling2D': {
      const pooled = b.node('GlobalAveragePool', [as(ins[0], 'nchw')], `${name}_nc11`);
      return { name: b.node('Flatten', [pooled], name, { axis: 1 }), layout: 'flat' };
    }
    case 'ZeroPadding2D': {
      const [[top, bottom], [left, right]] = config.padding as [[number, number], [number, number]];
      return { name: b.node('Pad', [as(ins[0], 'nchw'), b.ints(`${name}.pads`, [0, 0, top, left, 0, 0, bottom, right])], name, { mode: 'constant' }), layout: 'nchw' };
    }
    case 'Flatten':
      return { name: b.node('Flatten', [ins[0].layout === 'flat' ? ins[0].name : as(ins[0], 'nhwc')], name, { axis: 1 }), layout: 'flat' };
    case 'Reshape': {
      const shaped = b.node('Reshape', [ins[0].layout === 'flat' ? ins[0].name : as(ins[0], 'nhwc'), b.ints(`${name}.shape`, [0, ...(config.targetShape as number[])])], name);
      return { name: shaped, layout: outLayout === 'flat' ? 'flat' : 'nhwc' };
    }
    case 'Dense': {
      if (ins[0].layout !== 'flat') throw new ValueError(`toOnnx(): ${layer.label} reads an image tensor; flatten it first`);
      const [kernel, bias] = layer.weights;
      const inputs = [ins[0].name, b.constant(`${name}.kernel`, [...kernel.shape], await data(kernel))];
      if (bias) inputs.push(b.constant(`${name}.bias`, [...bias.shape], await data(bias)));
      return activation(b.node('Gemm', inputs, name), config.activation, 'flat');
    }
    case 'Activation':
      return activation(ins[0].name, config.activation, ins[0].layout);
    case 'LeakyReLU':
      return { name: b.node('LeakyRelu', [ins[0].name], name, { alpha: { float: config.alpha } }), layout: ins[0].layout };
    case 'Softmax':
      return activation(ins[0].name, 'softmax', ins[0].layout);
    case 'Dropout':
      return ins[0]; // inference: the identity
    case 'BatchNormalization': {
      const [gamma, beta] = layer.weights;
      const [mean, variance] = layer.state;
      const c = gamma.shape[0];
      const x = ins[0].layout === 'flat' ? ins[0].name : as(ins[0], 'nchw');
      const inputs = [x, ...(await Promise.all([gamma, beta, mean, variance].map(async (t, i) => b.constant(`${name}.${['gamma', 'beta', 'moving_mean', 'moving_variance'][i]}`, [c], await data(t)))))];
      if (ins[0].layout === 'flat' && inShape.length !== 1) throw new ValueError(`toOnnx(): ${layer.label} on a rank-${inShape.length} tensor has no ONNX export`);
      return { name: b.node('BatchNormalization', inputs, name, { epsilon: { float: config.epsilon ?? 1e-3 } }), layout: ins[0].layout === 'flat' ? 'flat' : 'nchw' };
    }
    case 'Add': {
      const layout = ins.some((v) => v.layout === 'nchw') ? 'nchw' : ins[0].layout;
      const names = ins.map((v) => (layout === 'flat' ? v.name : as(v, layout as 'nchw' | 'nhwc')));
      let sum = names[0];
      for (let i = 1; i < names.length; i++) sum = b.node('Add', [sum, names[i]], i === names.length - 1 ? name : `${name}_${i}`);
      return { name: sum, layout };
    }
    case 'Concatenate': {
      const rank = inShape.length;
      const axis = (config.axis as number) < 0 ? rank + (config.axis as number) : (config.axis as number);
      if (rank === 3) return { name: b.node('Concat', ins.map((v) => as(v, 'nchw')), name, { axis: [2, 3, 1][axis] }), layout: 'nchw' };
      return { name: b.node('Concat', ins.map((v) => v.name), name, { axis: axis + 1 }), layout: ins[0].layout };
    }
    default:
      throw new ValueError(`toOnnx(): ${layer.label} (${layer.kind}) has no ONNX export`);
  }
}
