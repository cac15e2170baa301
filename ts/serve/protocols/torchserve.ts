/**
 * TorchServe's inference API: GET /ping and POST /predictions/NAME[/VERSION] with an image (raw body or the
 * multipart field 'data'), answered as its image classifier does (the top 5 classes with probabilities), or a
 * JSON body of instances. Errors as {"code", "type", "message"}.
 */
import { resizeRgb, type Rgba } from '../../io/resize.js';
import { badRequest, expectMethod, HttpError, json, modelName, notFound, versionNumber, type ServeRequest, type ServeResponse } from './http.js';
import { DEFAULT_JSON_LIMITS, parseBoundedJson, type JsonLimits } from './json.js';
import { multipartField } from './multipart.js';
import { classNameOf, nestedToFloat32, probabilityRows, sizeOf, type ModelCatalog, type ServedModel } from './tensors.js';

export type ImageDecoder = (bytes: Uint8Array, name: string) => Rgba;

const TOP = 5;

export async function torchServe(request: ServeRequest, catalog: ModelCatalog, decodeImage: ImageDecoder | undefined, limits: JsonLimits = DEFAULT_JSON_LIMITS): Promise<ServeResponse> {
  if (request.path === '/ping') {
    expectMethod(request, 'GET');
    const healthy = catalog.ready();
    return json(healthy ? 200 : 503, { status: healthy ? 'Healthy' : 'Unhealthy' }, 'torchserve');
  }
  const segments = request.path.split('/').slice(2);
  if (segments.length < 1 || segments.length > 2 || segments[0] === '') throw notFound(`no route ${request.path}`);
  const name = modelName(segments[0]);
  const version = segments[1] === undefined ? undefined : versionNumber(segments[1]);
  expectMethod(request, 'POST', 'PUT');
  const model = catalog.get(name, version);
  if (!model) throw notFound(version === undefined ? `Model not found: ${name}` : `Model version not found: ${name}/${version}`);
  const labels = { model: name, version: model.version };
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw badRequest(`model '${name}' has several inputs or outputs; use the KServe v2 or TF Serving API`);
  const [input] = model.inputs;
  const contentType = request.header('content-type') ?? '';
  let body = request.body;
  if (/^multipart\/form-data/i.test(contentType)) body = multipartField(body, contentType, ['data', 'body', 'file']);
  if (body.length === 0) throw badRequest('the request has no body: send an image, or JSON instances');
  const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (/json/i.test(contentType) || first === 0x7b || first === 0x5b) {
    const parsed = parseBoundedJson(body, limits) as Record<string, unknown> | unknown[];
    const instances = Array.isArray(parsed) ? parsed : (parsed?.instances ?? parsed?.data);
    const x = nestedToFloat32(instances, [-1, ...input.shape], `input '${input.name}'`);
    return json(200, await answer(model, x.data, x.shape[0]), 'torchserve', labels);
  }
  if (!decodeImage) throw new HttpError(415, 'this server decodes no images; send JSON instances');
  if (input.shape.length !== 3 || input.shape[2] !== 3) throw badRequest(`model '${name}' takes inputs of shape [${input.shape}], not RGB images`);
  const [height, width] = input.shape;
  let image: Rgba;
  try {
    image = decodeImage(body, 'the request body');
  } catch (error) {
    throw badRequest((error as Error).message);
  }
  const rgb = resizeRgb(image, width, height);
  const x = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) x[i] = rgb[i] * model.inputScale;
  const [classes] = await answer(model, x, 1);
  return json(200, classes, 'torchserve', labels);
}

/** For a classifier (one output axis), each row's top classes with probabilities; else the raw outputs. */
async function answer(model: ServedModel, x: Float32Array, rows: number): Promise<unknown[]> {
  const [output] = await model.infer([x], rows);
  const shape = model.outputs[0].shape;
  const size = sizeOf(shape);
  if (shape.length !== 1) return Array.from({ length: rows }, (_, r) => Array.from(output.subarray(r * size, (r + 1) * size)));
  const probabilities = probabilityRows(model, output, size);
  return Array.from({ length: rows }, (_, r) => {
    const row = Array.from(probabilities.subarray(r * size, (r + 1) * size), (p, c) => [p, c]);
    row.sort((a, b) => b[0] - a[0]);
    return Object.fromEntries(row.slice(0, TOP).map(([p, c]) => [classNameOf(model, c), p]));
  });
}

export function torchServeError(error: HttpError): ServeResponse {
  return {
    status: error.status,
    headers: { 'content-type': 'application/json', ...error.headers },
    body: JSON.stringify({ code: error.status, type: error.type, message: error.message }),
    protocol: 'torchserve',
  };
}
