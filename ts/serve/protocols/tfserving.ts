/**
 * TensorFlow Serving's REST API: model status, metadata (signature_def) and :predict in the row ('instances' →
 * 'predictions') and columnar ('inputs' → 'outputs') formats; errors as {"error": "..."}.
 */
import { badRequest, expectMethod, HttpError, json, modelName, notFound, versionNumber, type ServeRequest, type ServeResponse } from './http.js';
import { DEFAULT_JSON_LIMITS, parseBoundedJson, stringifyNonFinite, type JsonLimits } from './json.js';
import { nestedToFloat32, sizeOf, type ModelCatalog, type ServedModel } from './tensors.js';

const SIGNATURE = 'serving_default';

export async function tfServing(request: ServeRequest, catalog: ModelCatalog, limits: JsonLimits = DEFAULT_JSON_LIMITS): Promise<ServeResponse> {
  const rest = request.path.slice('/v1/models/'.length);
  const colon = rest.lastIndexOf(':');
  const verb = colon >= 0 && !rest.slice(colon).includes('/') ? rest.slice(colon + 1) : undefined;
  const segments = (verb === undefined ? rest : rest.slice(0, colon)).split('/');
  const name = modelName(segments[0]);
  let version: number | undefined;
  let tail = segments.slice(1);
  if (tail[0] === 'versions' && tail.length >= 2) {
    version = versionNumber(tail[1]);
    tail = tail.slice(2);
  } else if (tail[0] === 'labels') {
    throw badRequest('version labels are not supported; use /versions/N or the served version');
  }
  const labels = { model: name, version };
  if (verb !== undefined) {
    if (tail.length) throw notFound(`no route ${request.path}`);
    if (verb === 'classify' || verb === 'regress') throw badRequest(`:${verb} needs a tf.Example signature; kiln models answer :predict`);
    if (verb !== 'predict') throw notFound(`no route ${request.path}`);
    expectMethod(request, 'POST');
    const model = served(catalog, name, version);
    return { ...(await predict(request, model, limits)), version: model.version };
  }
  expectMethod(request, 'GET');
  if (tail.length === 0) {
    const models = version === undefined ? [served(catalog, name)] : [served(catalog, name, version)];
    return json(200, {
      model_version_status: models.map((m) => ({ version: String(m.version), state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } })),
    }, 'tfserving', { model: name, version: models[0].version });
  }
  if (tail.length === 1 && tail[0] === 'metadata') {
    const model = served(catalog, name, version);
    return json(200, metadata(model), 'tfserving', { ...labels, version: model.version });
  }
  throw notFound(`no route ${request.path}`);
}

function served(catalog: ModelCatalog, name: string, version?: number): ServedModel {
  const model = catalog.get(name, version);
  if (model) return model;
  if (version !== undefined && catalog.get(name)) throw notFound(`Servable not found for request: Specific(${name}, ${version})`);
  throw notFound(`Could not find any versions of model ${name}`);
}

const tensorInfo = (name: string, shape: number[], prefix: string) => ({
  dtype: 'DT_FLOAT',
  tensor_shape: { dim: [-1, ...shape].map((size) => ({ size: String(size), name: '' })), unknown_rank: false },
  name: `${prefix}_${name}:0`,
});

function metadata(model: ServedModel) {
  const signature = {
    inputs: Object.fromEntries(model.inputs.map((t) => [t.name, tensorInfo(t.name, t.shape, SIGNATURE)])),
    outputs: Object.fromEntries(model.outputs.map((t) => [t.name, tensorInfo(t.name, t.shape, 'StatefulPartitionedCall')])),
    method_name: 'tensorflow/serving/predict',
  };
  return {
    model_spec: { name: model.name, signature_name: '', version: String(model.version) },
    metadata: { signature_def: { signature_def: { [SIGNATURE]: signature } } },
  };
}

async function predict(request: ServeRequest, model: ServedModel, limits: JsonLimits): Promise<ServeResponse> {
  const body = parseBoundedJson(request.body, { ...limits, nonFinite: true });
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request must be a JSON object with "instances" or "inputs"');
  const { signature_name: signature, instances, inputs } = body as Record<string, unknown>;
  if (signature !== undefined && signature !== SIGNATURE && signature !== '') {
    throw badRequest(`Serving signature name: "${String(signature)}" not found in signature def`);
  }
  if ((instances === undefined) === (inputs === undefined)) throw badRequest('the request must have exactly one of "instances" (row format) or "inputs" (columnar format)');
  const row = instances !== undefined;
  const { data, rows } = row ? rowInputs(instances, model) : columnarInputs(inputs, model);
  const outputs = await model.infer(data, rows);
  const nested = outputs.map((values, i) => toNested(values, [rows, ...model.outputs[i].shape]) as unknown[]);
  let answer: unknown;
  if (row) {
    answer = { predictions: nested[0].map((_, r) => (model.outputs.length === 1 ? nested[0][r] : Object.fromEntries(model.outputs.map((t, i) => [t.name, nested[i][r]])))) };
  } else {
    answer = { outputs: model.outputs.length === 1 ? nested[0] : Object.fromEntries(model.outputs.map((t, i) => [t.name, nested[i]])) };
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, body: stringifyNonFinite(answer), protocol: 'tfserving', model: model.name };
}

function rowInputs(instances: unknown, model: ServedModel): { data: Float32Array[]; rows: number } {
  if (!Array.isArray(instances) || instances.length === 0) throw badRequest('"instances" must be a non-empty list');
  const rows = instances.length;
  const named = model.inputs.length > 1 || isPlainObject(instances[0]);
  const data = model.inputs.map((input) => {
    const out = new Float32Array(rows * sizeOf(input.shape));
    instances.forEach((instance, r) => {
      let value = instance;
      if (named) {
        if (!isPlainObject(instance)) throw badRequest(`instance ${r}: expected an object of named inputs (${model.inputs.map((t) => t.name).join(', ')})`);
        value = namedValue(instance, input.name, model);
      }
      out.set(nestedToFloat32(value, input.shape, `input '${input.name}' of instance ${r}`).data, r * sizeOf(input.shape));
    });
    return out;
  });
  return { data, rows };
}

function columnarInputs(inputs: unknown, model: ServedModel): { data: Float32Array[]; rows: number } {
  const named = model.inputs.length > 1 || isPlainObject(inputs);
  let rows = -1;
  const data = model.inputs.map((input) => {
    const value = named ? (isPlainObject(inputs) ? namedValue(inputs, input.name, model) : badInputs(model)) : inputs;
    const tensor = nestedToFloat32(value, [-1, ...input.shape], `input '${input.name}'`);
    if (rows >= 0 && tensor.shape[0] !== rows) throw badRequest(`input '${input.name}': batch ${tensor.shape[0]} differs from the other inputs' ${rows}`);
    rows = tensor.shape[0];
    return tensor.data;
  });
  if (rows <= 0) throw badRequest('"inputs" must hold at least one example');
  return { data, rows };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function namedValue(object: Record<string, unknown>, name: string, model: ServedModel): unknown {
  const unknown = Object.keys(object).filter((k) => !model.inputs.some((t) => t.name === k));
  if (unknown.length) throw badRequest(`unknown input name(s) ${unknown.map((k) => `'${k}'`).join(', ')}; the model's inputs are ${model.inputs.map((t) => `'${t.name}'`).join(', ')}`);
  if (!(name in object)) throw badRequest(`input '${name}' is missing`);
  return object[name];
}

function badInputs(model: ServedModel): never {
  throw badRequest(`"inputs" must be an object of the inputs ${model.inputs.map((t) => `'${t.name}'`).join(', ')}`);
}

/** Flat values as nested arrays of `shape`. */
export function toNested(values: Float32Array, shape: number[]): unknown {
  if (shape.length === 0) return values[0];
  let level: unknown[] = Array.from(values);
  for (let axis = shape.length - 1; axis >= 1; axis--) {
    const size = shape[axis];
    const next: unknown[] = [];
    for (let i = 0; i < level.length; i += size) next.push(level.slice(i, i + size));
    level = next;
  }
  return level;
}

export function tfServingError(error: HttpError): ServeResponse {
  return { status: error.status, headers: { 'content-type': 'application/json', ...error.headers }, body: JSON.stringify({ error: error.message }), protocol: 'tfserving' };
}
