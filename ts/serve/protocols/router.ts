/**
 * One handler for every route: TF Serving (/v1/), KServe v2 (/v2/) and TorchServe (/ping, /predictions/).
 * Pure Request → Response over a ModelCatalog; the Node server and the fetch handler are adapters around it.
 */
import { KilnError, ShapeError, DTypeError, ValueError } from '../../errors.js';
import { HttpError, json, notFound, type Protocol, type ServeRequest, type ServeResponse } from './http.js';
import { DEFAULT_JSON_LIMITS, type JsonLimits } from './json.js';
import { kserve, kserveError } from './kserve.js';
import type { ModelCatalog } from './tensors.js';
import { tfServing, tfServingError } from './tfserving.js';
import { torchServe, torchServeError, type ImageDecoder } from './torchserve.js';

export interface HandlerOptions {
  catalog: ModelCatalog;
  /** Decodes the images TorchServe-style requests send; without it those requests get 415. */
  decodeImage?: ImageDecoder;
  jsonLimits?: JsonLimits;
  server?: { name: string; version: string };
}

export const SERVER = { name: 'kiln', version: '0.1.0' };

export function protocolOf(path: string): Protocol {
  if (path.startsWith('/v1/models/')) return 'tfserving';
  if (path === '/v2' || path.startsWith('/v2/')) return 'kserve';
  if (path === '/ping' || path.startsWith('/predictions/')) return 'torchserve';
  return 'server';
}

export async function handle(request: ServeRequest, options: HandlerOptions): Promise<ServeResponse> {
  const protocol = protocolOf(request.path);
  const limits = options.jsonLimits ?? DEFAULT_JSON_LIMITS;
  try {
    if (protocol === 'tfserving') return await tfServing(request, options.catalog, limits);
    if (protocol === 'kserve') return await kserve(request, options.catalog, options.server ?? SERVER, limits);
    if (protocol === 'torchserve') return await torchServe(request, options.catalog, options.decodeImage, limits);
    throw notFound(`no route ${request.path}: kiln serves /v1/models/… (TF Serving), /v2/… (KServe v2) and /predictions/… (TorchServe)`);
  } catch (error) {
    return errorResponse(protocol, asHttpError(error));
  }
}

/** Errors from the model (wrong shape, dtype, value) are the client's; anything else is the server's. */
export function asHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ShapeError || error instanceof DTypeError || error instanceof ValueError) return new HttpError(400, error.message);
  if (error instanceof KilnError) return new HttpError(500, error.message);
  return new HttpError(500, `internal error: ${(error as Error)?.message ?? String(error)}`);
}

export function errorResponse(protocol: Protocol, error: HttpError): ServeResponse {
  if (protocol === 'tfserving') return tfServingError(error);
  if (protocol === 'torchserve' || protocol === 'management') return { ...torchServeError(error), protocol };
  if (protocol === 'kserve') return kserveError(error);
  return json(error.status, { error: error.message }, protocol, { headers: { 'content-type': 'application/json', ...error.headers } });
}
