/**
 * `kiln serve` in Node: one HTTP port for TF Serving, KServe v2 and TorchServe (the pure handler of
 * protocols/router.ts) and /metrics, a model repository whose models run in inference workers behind dynamic
 * batchers, and TorchServe's management API on a second, loopback-only port when a token is given.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { relative } from 'node:path';
import { decodeImage } from '../io/images.js';
import { decodeBody, encodeBody, responseEncoding } from './encoding.js';
import { ServerMetrics } from './metrics.js';
import { HttpError, type Protocol, type ServeRequest, type ServeResponse } from './protocols/http.js';
import { DEFAULT_JSON_LIMITS, type JsonLimits } from './protocols/json.js';
import { management, type ManagedModel } from './protocols/management.js';
import { asHttpError, errorResponse, handle, protocolOf } from './protocols/router.js';
import { Repository, type LoadedModel, type RepositoryOptions } from './repository.js';

export interface ServeOptions extends RepositoryOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  jsonLimits?: JsonLimits;
  /** TorchServe's management API: off unless given; always bound to 127.0.0.1. */
  management?: { port: number; token: string };
}

export interface RunningServer {
  url: string;
  managementUrl?: string;
  repository: Repository;
  /** Stops accepting, answers what is in flight, then stops the workers. */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  let repository: Repository | undefined;
  const metrics = new ServerMetrics(() => repository);
  repository = new Repository({
    ...options,
    onBatch: (model, rows) => metrics.batch(model, rows),
    onLoad: (model, version, seconds) => metrics.loaded(model, version, seconds),
  });
  const handlerOptions = { catalog: repository, decodeImage, jsonLimits: options.jsonLimits ?? DEFAULT_JSON_LIMITS };
  let closing = false;

  const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    void answer(req, res, options.maxBodyBytes, closing, async (request) => {
      if (request.path === '/metrics') {
        if (request.method !== 'GET') throw new HttpError(405, 'method not allowed: /metrics takes GET', undefined, { allow: 'GET' });
        return { status: 200, headers: { 'content-type': metrics.registry.contentType }, body: await metrics.registry.metrics(), protocol: 'server' as Protocol };
      }
      return handle(request, handlerOptions);
    }).then((response) => metrics.observe(response.response, response.seconds));
  });
  await repository.start();
  const url = await listen(server, options.host, options.port);

  let managementServer: Server | undefined;
  let managementUrl: string | undefined;
  if (options.management) {
    const { token } = options.management;
    const manager = managerOf(repository, options);
    managementServer = createServer((req, res) => {
      void answer(req, res, options.maxBodyBytes, closing, (request) => management(request, manager, token), 'management');
    });
    managementUrl = await listen(managementServer, '127.0.0.1', options.management.port);
  }

  return {
    url,
    managementUrl,
    repository,
    async close() {
      closing = true;
      const closed = [server, managementServer].filter((s): s is Server => !!s).map((s) => new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeIdleConnections();
      }));
      await Promise.all(closed);
      await repository!.close();
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
    });
  });
}

/** Reads, decodes and answers one request; never throws (errors become the protocol's error answers). */
async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  closing: boolean,
  respond: (request: ServeRequest) => Promise<ServeResponse>,
  fixedProtocol?: Protocol,
): Promise<{ response: ServeResponse; seconds: number }> {
  const started = performance.now();
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const protocol = fixedProtocol ?? protocolOf(path);
  let response: ServeResponse;
  let drop = false;
  try {
    const raw = await readBody(req, limit);
    const body = await decodeBody(raw, header(req, 'content-encoding'), limit);
    response = await respond({ method: req.method ?? 'GET', path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)), header: (name) => header(req, name), body });
  } catch (error) {
    const httpError = asHttpError(error);
    drop = httpError.status === 413; // the rest of an oversized body is not read
    response = errorResponse(protocol, httpError);
  }
  try {
    let body = typeof response.body === 'string' ? Buffer.from(response.body) : response.body;
    const encoding = responseEncoding(header(req, 'accept-encoding'));
    const headers: Record<string, string> = { ...response.headers };
    if (encoding && body.length > 0) {
      body = await encodeBody(body, encoding);
      headers['content-encoding'] = encoding;
      headers.vary = 'Accept-Encoding';
    }
    headers['content-length'] = String(body.length);
    if (drop || closing) headers.connection = 'close';
    res.writeHead(response.status, headers);
    res.end(body);
    if (drop) res.once('finish', () => req.destroy());
  } catch {
    res.destroy();
  }
  return { response, seconds: (performance.now() - started) / 1000 };
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** The body, refused with 413 as soon as it passes `limit` (by Content-Length or as it streams). */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new HttpError(413, `the body of ${declared} bytes is over the limit of ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(new HttpError(413, `the body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    });
    req.once('error', reject);
  });
}

function managerOf(repository: Repository, options: ServeOptions) {
  const describe = (m: LoadedModel): ManagedModel => ({
    name: m.name, version: m.version, file: relative(options.base, m.file) || m.file, workers: m.workers.length,
    maxBatchSize: m.maxBatchSize, maxBatchDelayMs: options.batching.batchTimeoutMicros / 1000,
  });
  return {
    list: () => repository.list().map(describe),
    register: async (path: string, name?: string, workers?: number) => describe(await repository.register(path, name, workers)),
    unregister: (name: string) => repository.unregister(name),
    scale: async (name: string, workers: number) => describe(await repository.scale(name, workers)),
  };
}
