/** What a served model offers the protocols, and the conversions from request values to its float32 inputs. */
import { softmaxRows } from '../../model/classify.js';
import { badRequest } from './http.js';

export interface TensorSpec {
  name: string;
  /** Without the batch axis. */
  shape: number[];
}

export interface ServedModel {
  name: string;
  version: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Class names for the TorchServe classifier answers (else "class i"). */
  classNames?: string[];
  /** Pixels (0…255) times this are the model's input. */
  inputScale: number;
  /** Whether the outputs are probabilities already, or logits a softmax turns into probabilities. */
  outputsAreProbabilities: boolean;
  maxBatchSize: number;
  /** One array per input, `rows` examples each; answers one array per output. */
  infer(inputs: Float32Array[], rows: number, options?: { deadline?: number }): Promise<Float32Array[]>;
}

export interface ModelCatalog {
  /** The served version of each model. */
  list(): ServedModel[];
  /** The served model, or a given version of it; undefined when there is none. */
  get(name: string, version?: number): ServedModel | undefined;
  /** False while models are still loading at start-up. */
  ready(): boolean;
}

export const sizeOf = (shape: number[]) => shape.reduce((n, d) => n * d, 1);

/**
 * A nested JSON array of numbers as float32, checked against `shape` exactly (batch axis included, given as
 * -1 to take any). The message names the input, the shape expected and the shape given.
 */
export function nestedToFloat32(value: unknown, shape: number[], what: string): { data: Float32Array; shape: number[] } {
  const given = nestedShape(value);
  const matches = given.length === shape.length && shape.every((d, i) => d === -1 || d === given[i]);
  if (!matches) throw badRequest(`${what}: expected shape [${shape.map((d) => (d === -1 ? 'batch' : d))}], got [${given}]`);
  const data = new Float32Array(sizeOf(given));
  let at = 0;
  const walk = (v: unknown, depth: number) => {
    if (depth === given.length) {
      data[at++] = numberOf(v, what);
      return;
    }
    if (!Array.isArray(v) || v.length !== given[depth]) throw badRequest(`${what}: a ragged array (every row along axis ${depth} must have ${given[depth]} elements)`);
    for (const item of v) walk(item, depth + 1);
  };
  walk(value, 0);
  return { data, shape: given };
}

/** The shape of a nested array read along its first elements (raggedness is caught while copying). */
export function nestedShape(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

export function numberOf(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v && typeof v === 'object' && 'b64' in v) throw badRequest(`${what}: base64 ('b64') values are for string inputs; this model takes numbers`);
  throw badRequest(`${what}: expected numbers, got ${v === null ? 'null' : typeof v}`);
}

/** KServe v2 / Triton datatypes and their element sizes in bytes. */
export const DATATYPE_BYTES: Record<string, number> = {
  BOOL: 1, INT8: 1, UINT8: 1, INT16: 2, UINT16: 2, FP16: 2, BF16: 2, INT32: 4, UINT32: 4, FP32: 4, INT64: 8, UINT64: 8, FP64: 8,
};

/** Raw little-endian tensor bytes of `datatype` as float32. */
export function binaryToFloat32(bytes: Uint8Array, datatype: string, count: number, what: string): Float32Array {
  const size = DATATYPE_BYTES[datatype];
  if (bytes.length !== count * size) throw badRequest(`${what}: ${datatype} data of ${count} elements is ${count * size} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  if (datatype === 'FP32') {
    // Aligned little-endian float32: one copy.
    if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    else for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const read: (i: number) => number = {
    BOOL: (i: number) => (view.getUint8(i) ? 1 : 0),
    INT8: (i: number) => view.getInt8(i),
    UINT8: (i: number) => view.getUint8(i),
    INT16: (i: number) => view.getInt16(i * 2, true),
    UINT16: (i: number) => view.getUint16(i * 2, true),
    FP16: (i: number) => halfToFloat(view.getUint16(i * 2, true)),
    BF16: (i: number) => bfloatToFloat(view.getUint16(i * 2, true)),
    INT32: (i: number) => view.getInt32(i * 4, true),
    UINT32: (i: number) => view.getUint32(i * 4, true),
    INT64: (i: number) => Number(view.getBigInt64(i * 8, true)),
    UINT64: (i: number) => Number(view.getBigUint64(i * 8, true)),
    FP64: (i: number) => view.getFloat64(i * 8, true),
  }[datatype]!;
  for (let i = 0; i < count; i++) out[i] = read(i);
  return out;
}

/** JSON numbers given for an integer datatype must be integers in its range. */
export function checkJsonElement(value: number, datatype: string, what: string): number {
  const range = INTEGER_RANGES[datatype];
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
    throw badRequest(`${what}: ${value} is not a ${datatype} value`);
  }
  return value;
}

const INTEGER_RANGES: Record<string, [number, number]> = {
  BOOL: [0, 1], INT8: [-128, 127], UINT8: [0, 255], INT16: [-32768, 32767], UINT16: [0, 65535],
  INT32: [-2147483648, 2147483647], UINT32: [0, 4294967295], INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], UINT64: [0, Number.MAX_SAFE_INTEGER],
};

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const bfloatScratch = new DataView(new ArrayBuffer(4));
function bfloatToFloat(b: number): number {
  bfloatScratch.setUint32(0, b << 16);
  return bfloatScratch.getFloat32(0);
}

/** Probabilities of each row: the outputs themselves, or their softmax when the model gives logits. */
export function probabilityRows(model: ServedModel, output: Float32Array, classes: number): Float32Array {
  return model.outputsAreProbabilities ? output : softmaxRows(output, classes);
}

export function classNameOf(model: ServedModel, index: number): string {
  return model.classNames?.[index] ?? `class ${index}`;
}
