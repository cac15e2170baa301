/**
 * The safetensors container (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
 * JSON header ({ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__: { string: string } }), then
 * the raw little-endian tensor bytes. Reading validates everything before anything is allocated for it.
 */
import { ModelFormatError } from '../errors.js';

export type SafetensorsDType = 'F32' | 'F16' | 'I32' | 'I8' | 'U8';
export const DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, I32: 4, I8: 1, U8: 1 };

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** The tensor's bytes (a view into the file's data section). */
  bytes: Uint8Array;
}

export interface Safetensors {
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
  /** The data section: every tensor's bytes, in file order. */
  data: Uint8Array;
}

/** safetensors' own limit on the header (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Deeper JSON nesting than any kiln header needs is refused before parsing. */
const MAX_JSON_DEPTH = 64;

const fail = (message: string): never => {
  throw new ModelFormatError(message);
};

/** Refuses JSON nested deeper than `limit` (brackets outside strings), without parsing it. */
export function checkJsonDepth(text: string, where: string, limit = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) fail(`${where}: JSON nested deeper than ${limit} levels at character ${i}`);
    } else if (c === 125 || c === 93) depth--;
  }
}

export function parseJson(text: string, where: string): unknown {
  checkJsonDepth(text, where);
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`${where}: not valid JSON (${(error as Error).message})`);
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and validates a safetensors file: bounds, dtypes × shapes against byte counts, contiguous offsets. */
export function readSafetensors(file: Uint8Array, what = 'model file'): Safetensors {
  if (!(file instanceof Uint8Array)) fail(`${what}: expected bytes`);
  if (file.length < 8) fail(`${what}: ${file.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  if (headerLength > MAX_HEADER_BYTES) fail(`${what}: header length ${headerLength} exceeds safetensors' limit of ${MAX_HEADER_BYTES} bytes`);
  if (headerLength > file.length - 8) fail(`${what}: header length ${headerLength} runs past the end of the file (${file.length - 8} bytes after the length)`);
  if (headerLength < 2) fail(`${what}: header length ${headerLength} is too short for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLength));
  } catch {
    return fail(`${what}: the header (bytes 8–${8 + headerLength}) is not valid UTF-8`);
  }
  if (!text.startsWith('{')) fail(`${what}: the header must be a JSON object, it starts with ${JSON.stringify(text.slice(0, 8))}`);
  const header = parseJson(text.trimEnd(), `${what} header`);
  if (!isPlainObject(header)) return fail(`${what}: the header must be a JSON object`);

  const metadata: Record<string, string> = Object.create(null);
  const rawMetadata = header.__metadata__;
  if (rawMetadata !== undefined) {
    if (!isPlainObject(rawMetadata)) fail(`${what}: __metadata__ must be an object of strings`);
    for (const [k, v] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`${what}: __metadata__.${k} must be a string, got ${typeof v}`);
      metadata[k] = v as string;
    }
  }
  const data = file.subarray(8 + headerLength);
  const entries: (TensorEntry & { begin: number; end: number })[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const where = `${what}: tensor '${name}'`;
    if (!isPlainObject(raw)) fail(`${where} must be an object with dtype, shape and data_offsets`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(`${where}: dtype must be one of ${Object.keys(DTYPE_BYTES).join(', ')}, got ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where}: shape must be at most 8 non-negative integers, got ${JSON.stringify(shape)?.slice(0, 80)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${where}: data_offsets must be [begin, end], got ${JSON.stringify(offsets)?.slice(0, 80)}`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > data.length) fail(`${where}: data_offsets [${begin}, ${end}] lie outside the ${data.length}-byte data section`);
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = elements * DTYPE_BYTES[dtype as SafetensorsDType];
    if (bytes !== end - begin) fail(`${where}: ${dtype} [${shape}] needs ${bytes} bytes, its data_offsets [${begin}, ${end}] hold ${end - begin}`);
    entries.push({ name, dtype: dtype as SafetensorsDType, shape: shape as number[], bytes: data.subarray(begin, end), begin, end });
  }
  // As safetensors requires: the tensors tile the data section, without gaps or overlaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at) fail(`${what}: tensor '${e.name}' starts at byte ${e.begin} of the data section, expected ${at} (${e.begin < at ? 'it overlaps the tensor before it' : 'a gap precedes it'})`);
    at = e.end;
  }
  if (at !== data.length) fail(`${what}: the tensors end at byte ${at} of the ${data.length}-byte data section (trailing bytes)`);
  return { metadata, tensors: new Map(entries.map(({ begin: _b, end: _e, ...t }) => [t.name, t])), data };
}

/** Writes a safetensors file: the header padded with spaces to 8 bytes, tensors in the order given. */
export function writeSafetensors(tensors: { name: string; dtype: SafetensorsDType; shape: readonly number[]; bytes: Uint8Array }[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const spaced = new Uint8Array(padded).fill(0x20);
    spaced.set(json);
    json = spaced;
  }
  const file = new Uint8Array(8 + json.length + at);
  new DataView(file.buffer).setUint32(0, json.length, true);
  file.set(json, 8);
  let offset = 8 + json.length;
  for (const t of tensors) {
    file.set(t.bytes, offset);
    offset += t.bytes.length;
  }
  return file;
}
