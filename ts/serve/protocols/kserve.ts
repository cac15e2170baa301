/**
 * KServe v2 / Open Inference Protocol, with Triton's extensions its clients use: binary tensor data (a JSON
 * header of Inference-Header-Content-Length bytes, then raw little-endian tensors) and the model configuration.
 */
import { badRequest, encodeUtf8, expectMethod, json, modelName, notFound, versionNumber, type HttpError, type ServeRequest, type ServeResponse } from './http.js';
import { concat } from '../encoding.js';
import { DEFAULT_JSON_LIMITS, parseBoundedJson, type JsonLimits } from './json.js';
import { binaryToFloat32, checkJsonElement, DATATYPE_BYTES, nestedShape, sizeOf, type ModelCatalog, type ServedModel } from './tensors.js';

export const HEADER_LENGTH = 'inference-header-content-length';

export async function kserve(request: ServeRequest, catalog: ModelCatalog, server: { name: string; version: string }, limits: JsonLimits = DEFAULT_JSON_LIMITS): Promise<ServeResponse> {
  const segments = request.path.split('/').slice(2);
  if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) {
    expectMethod(request, 'GET');
    return json(200, { name: server.name, version: server.version, extensions: ['binary_tensor_data', 'model_configuration'] }, 'kserve');
  }
  if (segments[0] === 'health' && segments.length === 2 && (segments[1] === 'live' || segments[1] === 'ready')) {
    expectMethod(request, 'GET');
    const ok = segments[1] === 'live' || catalog.ready();
    return json(ok ? 200 : 503, { [segments[1]]: ok }, 'kserve');
  }
  if (segments[0] !== 'models' || segments.length < 2) throw notFound(`no route ${request.path}`);
  const name = modelName(segments[1]);
  let tail = segments.slice(2);
  let version: number | undefined;
  if (tail[0] === 'versions' && tail.length >= 2) {
    version = versionNumber(tail[1]);
    tail = tail.slice(2);
  }
  const model = catalog.get(name, version);
  if (!model) throw notFound(version === undefined ? `model '${name}' is not served` : `model '${name}' has no served version ${version}`);
  const labels = { model: name, version: model.version };
  const action = tail.join('/');
  if (action === 'infer') {
    expectMethod(request, 'POST');
    return { ...(await infer(request, model, limits)), ...labels };
  }
  expectMethod(request, 'GET');
  if (action === '') return json(200, metadata(model), 'kserve', labels);
  if (action === 'ready') return json(200, { name, ready: true }, 'kserve', labels);
  if (action === 'config') return json(200, config(model), 'kserve', labels);
  throw notFound(`no route ${request.path}`);
}

const metadata = (model: ServedModel) => ({
  name: model.name,
  versions: [String(model.version)],
  platform: 'kiln',
  inputs: model.inputs.map((t) => ({ name: t.name, datatype: 'FP32', shape: [-1, ...t.shape] })),
  outputs: model.outputs.map((t) => ({ name: t.name, datatype: 'FP32', shape: [-1, ...t.shape] })),
});

const config = (model: ServedModel) => ({
  name: model.name,
  platform: 'kiln',
  backend: 'kiln',
  version_policy: { latest: { num_versions: 1 } },
  max_batch_size: model.maxBatchSize,
  input: model.inputs.map((t) => ({ name: t.name, data_type: 'TYPE_FP32', format: 'FORMAT_NONE', dims: t.shape })),
  output: model.outputs.map((t) => ({ name: t.name, data_type: 'TYPE_FP32', dims: t.shape })),
  dynamic_batching: {},
});

interface RequestTensor {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  data?: unknown;
  parameters?: Record<string, unknown>;
}

async function infer(request: ServeRequest, model: ServedModel, limits: JsonLimits): Promise<ServeResponse> {
  const { header, binary } = splitBinary(request);
  const body = parseBoundedJson(header, limits);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the inference request must be a JSON object');
  const { id, inputs, outputs: requested, parameters } = body as { id?: unknown; inputs?: unknown; outputs?: unknown; parameters?: Record<string, unknown> };
  if (id !== undefined && typeof id !== 'string') throw badRequest(`"id" must be a string, got ${typeof id}`);
  if (!Array.isArray(inputs)) throw badRequest('"inputs" must be a list of tensors');
  let offset = 0;
  let rows = -1;
  const given = new Map<string, Float32Array>();
  for (const [i, raw] of inputs.entries()) {
    const tensor = (raw ?? {}) as RequestTensor;
    const what = `input ${typeof tensor.name === 'string' ? `'${tensor.name}'` : i}`;
    const spec = model.inputs.find((t) => t.name === tensor.name);
    if (!spec) throw badRequest(`${what}: unknown input name; the model's inputs are ${model.inputs.map((t) => `'${t.name}'`).join(', ')}`);
    if (given.has(spec.name)) throw badRequest(`${what} is given twice`);
    const datatype = tensor.datatype;
    if (typeof datatype !== 'string' || !(datatype in DATATYPE_BYTES)) {
      throw badRequest(`${what}: datatype must be one of ${Object.keys(DATATYPE_BYTES).join(', ')}, got ${JSON.stringify(datatype)}`);
    }
    const shape = tensor.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw badRequest(`${what}: "shape" must be a list of non-negative integers`);
    if (shape.length !== spec.shape.length + 1 || spec.shape.some((d, k) => shape[k + 1] !== d) || shape[0] < 1) {
      throw badRequest(`${what}: expected shape [batch, ${spec.shape}], got [${shape}]`);
    }
    if (rows >= 0 && shape[0] !== rows) throw badRequest(`${what}: batch ${shape[0]} differs from the other inputs' ${rows}`);
    rows = shape[0];
    const count = sizeOf(shape);
    const binarySize = tensor.parameters?.binary_data_size;
    if (binarySize !== undefined) {
      if (!Number.isInteger(binarySize) || (binarySize as number) < 0) throw badRequest(`${what}: binary_data_size must be a non-negative integer`);
      if (offset + (binarySize as number) > binary.length) throw badRequest(`${what}: binary_data_size ${binarySize} runs past the ${binary.length} bytes of binary data`);
      given.set(spec.name, binaryToFloat32(binary.subarray(offset, offset + (binarySize as number)), datatype, count, what));
      offset += binarySize as number;
    } else {
      given.set(spec.name, jsonData(tensor.data, datatype, count, what));
    }
  }
  if (offset !== binary.length) throw badRequest(`${binary.length - offset} bytes of binary data are not claimed by any input's binary_data_size`);
  const missing = model.inputs.filter((t) => !given.has(t.name));
  if (missing.length) throw badRequest(`missing input(s) ${missing.map((t) => `'${t.name}'`).join(', ')}`);

  const binaryAll = parameters?.binary_data_output === true;
  const wanted = requestedOutputs(requested, model, binaryAll);
  const values = await model.infer(model.inputs.map((t) => given.get(t.name)!), rows, { deadline: deadlineOf(parameters) });
  const answer: Record<string, unknown> = { model_name: model.name, model_version: String(model.version), ...(id !== undefined ? { id } : {}) };
  const chunks: Uint8Array[] = [];
  answer.outputs = wanted.map(({ index, binary: asBinary }) => {
    const spec = model.outputs[index];
    const out: Record<string, unknown> = { name: spec.name, datatype: 'FP32', shape: [rows, ...spec.shape] };
    const data = values[index];
    if (asBinary) {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      chunks.push(bytes);
      out.parameters = { binary_data_size: bytes.length };
    } else {
      out.data = Array.from(data, (v) => (Number.isFinite(v) ? v : null));
    }
    return out;
  });
  const text = JSON.stringify(answer);
  if (chunks.length === 0) return { status: 200, headers: { 'content-type': 'application/json' }, body: text, protocol: 'kserve' };
  const head = encodeUtf8(text);
  return { status: 200, headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(head.length) }, body: concat([head, ...chunks]), protocol: 'kserve' };
}

function splitBinary(request: ServeRequest): { header: Uint8Array; binary: Uint8Array } {
  const length = request.header(HEADER_LENGTH);
  if (length === undefined) return { header: request.body, binary: new Uint8Array(0) };
  const n = /^[0-9]{1,12}$/.test(length.trim()) ? Number(length) : NaN;
  if (!(n <= request.body.length)) throw badRequest(`Inference-Header-Content-Length ${JSON.stringify(length)} is not a byte count within the ${request.body.length}-byte body`);
  return { header: request.body.subarray(0, n), binary: request.body.subarray(n) };
}

function jsonData(data: unknown, datatype: string, count: number, what: string): Float32Array {
  if (!Array.isArray(data)) throw badRequest(`${what}: "data" must be a list (or give binary_data_size)`);
  // Row-major data, flat or nested as its shape.
  const flat = nestedShape(data).length > 1 ? (data as unknown[]).flat(Infinity) : data;
  if (flat.length !== count) throw badRequest(`${what}: its shape holds ${count} elements, "data" has ${flat.length}`);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (typeof v === 'number') out[i] = checkJsonElement(v, datatype, what);
    else if (typeof v === 'boolean' && datatype === 'BOOL') out[i] = v ? 1 : 0;
    else throw badRequest(`${what}: element ${i} is ${v === null ? 'null' : typeof v}, not a ${datatype} number`);
  }
  return out;
}

function requestedOutputs(requested: unknown, model: ServedModel, binaryAll: boolean): { index: number; binary: boolean }[] {
  if (requested === undefined) return model.outputs.map((_, index) => ({ index, binary: binaryAll }));
  if (!Array.isArray(requested)) throw badRequest('"outputs" must be a list of {"name": ...}');
  return requested.map((raw) => {
    const { name, parameters } = (raw ?? {}) as RequestTensor;
    const index = model.outputs.findIndex((t) => t.name === name);
    if (index < 0) throw badRequest(`requested output ${JSON.stringify(name)} is not one of the model's outputs ${model.outputs.map((t) => `'${t.name}'`).join(', ')}`);
    if (parameters?.classification !== undefined) throw badRequest(`output '${name}': the classification extension is not supported`);
    const binary = parameters?.binary_data;
    return { index, binary: binary === undefined ? binaryAll : binary === true };
  });
}

/** Triton's request parameter "timeout" is in microseconds. */
function deadlineOf(parameters: Record<string, unknown> | undefined): number | undefined {
  const timeout = parameters?.timeout;
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !(timeout > 0)) throw badRequest('parameters.timeout must be a positive number of microseconds');
  return Date.now() + timeout / 1000;
}

export function kserveError(error: HttpError): ServeResponse {
  return { status: error.status, headers: { 'content-type': 'application/json', ...error.headers }, body: JSON.stringify({ error: error.message }), protocol: 'kserve' };
}
