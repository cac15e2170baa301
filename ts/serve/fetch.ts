/**
 * The serving protocols as a fetch handler, `(request: Request) => Promise<Response>`, for edge and serverless
 * runtimes (workerd, Deno, Bun, service workers): the same pure handler as `kiln serve`, over models this
 * isolate holds, run one request at a time (no workers, batching or metrics there).
 */
import type { Model } from '../model/model.js';
import { inProcessCatalog, type InProcessModel } from './describe.js';
import { decodeBody, encodeBody, readLimited, responseEncoding } from './encoding.js';
import { HttpError } from './protocols/http.js';
import type { JsonLimits } from './protocols/json.js';
import { asHttpError, errorResponse, handle, protocolOf } from './protocols/router.js';
import type { ImageDecoder } from './protocols/torchserve.js';

export interface FetchHandlerOptions {
  /** Served models by name: a Model (version 1) or { model, version }. */
  models: Record<string, Model | InProcessModel>;
  /** Bodies larger, also once decompressed, get 413 (default 16 MiB). */
  maxBodyBytes?: number;
  /** Decodes the images TorchServe-style requests send (else they get 415). */
  decodeImage?: ImageDecoder;
  jsonLimits?: JsonLimits;
  maxBatchSize?: number;
}

export function createFetchHandler(options: FetchHandlerOptions): (request: Request) => Promise<Response> {
  for (const name of Object.keys(options.models)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') throw new HttpError(500, `createFetchHandler: model name '${name}' is not allowed (names are [A-Za-z0-9_.-]+)`);
  }
  const catalog = inProcessCatalog(options.models, options.maxBatchSize);
  const limit = options.maxBodyBytes ?? 16 * 1024 * 1024;
  return async (request) => {
    const url = new URL(request.url);
    // The path as sent: URL() would resolve '..' segments, so it is read from the raw URL.
    const raw = request.url.slice(request.url.indexOf('/', request.url.indexOf('//') + 2)).split('?')[0].split('#')[0];
    const path = raw || '/';
    let response;
    try {
      const body = await decodeBody(await readBody(request, limit), request.headers.get('content-encoding') ?? undefined, limit);
      response = await handle(
        { method: request.method, path, query: url.searchParams, header: (name) => request.headers.get(name) ?? undefined, body },
        { catalog, decodeImage: options.decodeImage, jsonLimits: options.jsonLimits },
      );
    } catch (error) {
      response = errorResponse(protocolOf(path), asHttpError(error));
    }
    let body = typeof response.body === 'string' ? new TextEncoder().encode(response.body) : response.body;
    const headers = new Headers(response.headers);
    const encoding = responseEncoding(request.headers.get('accept-encoding') ?? undefined);
    if (encoding && body.length > 0) {
      body = await encodeBody(body, encoding);
      headers.set('content-encoding', encoding);
      headers.set('vary', 'Accept-Encoding');
    }
    return new Response(body as Uint8Array<ArrayBuffer>, { status: response.status, headers, encodeBody: 'manual' } as ResponseInit);
  };
}

function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  const tooLarge = () => new HttpError(413, `the body of ${declared || 'more than ' + limit} bytes is over the limit of ${limit} bytes`);
  if (declared > limit) return Promise.reject(tooLarge());
  return request.body ? readLimited(request.body, limit, tooLarge) : Promise.resolve(new Uint8Array(0));
}
