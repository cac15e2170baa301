/**
 * TorchServe's management API, on its own loopback port and behind a token (Authorization: Bearer …):
 * list, describe, register a model file from inside the model base (never a URL), scale, unregister.
 */
import { badRequest, expectMethod, HttpError, json, modelName, notFound, versionNumber, type ServeRequest, type ServeResponse } from './http.js';

export interface ManagedModel {
  name: string;
  version: number;
  /** The file, relative to the model base. */
  file: string;
  workers: number;
  maxBatchSize: number;
  maxBatchDelayMs: number;
}

export interface ModelManager {
  list(): ManagedModel[];
  register(path: string, name?: string, workers?: number): Promise<ManagedModel>;
  unregister(name: string): Promise<void>;
  scale(name: string, workers: number): Promise<ManagedModel>;
}

export async function management(request: ServeRequest, manager: ModelManager, token: string): Promise<ServeResponse> {
  const given = /^Bearer\s+(.+)$/i.exec(request.header('authorization') ?? '')?.[1]?.trim() ?? '';
  if (!sameText(given, token)) throw new HttpError(401, 'Token Authorization failed. Token either incorrect, expired, or not provided correctly');
  const segments = request.path.split('/').slice(1);
  if (segments[0] !== 'models' || segments.length > 3) throw notFound(`no route ${request.path}`);
  if (segments.length === 1 || segments[1] === '') {
    expectMethod(request, 'GET', 'POST');
    if (request.method === 'GET') {
      return json(200, { models: manager.list().map((m) => ({ modelName: m.name, modelUrl: m.file })) }, 'management');
    }
    const url = request.query.get('url');
    if (!url) throw badRequest('register: the query parameter "url" (a model file inside the model base) is required');
    const nameParam = request.query.get('model_name');
    const initial = request.query.get('initial_workers');
    const workers = initial === null ? undefined : Number(initial);
    if (workers !== undefined && !Number.isInteger(workers)) throw badRequest(`register: initial_workers must be an integer, got ${JSON.stringify(initial)}`);
    const model = await manager.register(url, nameParam === null ? undefined : modelName(nameParam), workers);
    return json(200, { status: `Model "${model.name}" Version: ${model.version} registered with ${model.workers} initial workers` }, 'management', { model: model.name, version: model.version });
  }
  const name = modelName(segments[1]);
  const version = segments[2] === undefined ? undefined : versionNumber(segments[2]);
  const model = manager.list().find((m) => m.name === name && (version === undefined || m.version === version));
  if (!model) throw notFound(version === undefined ? `Model not found: ${name}` : `Model version not found: ${name}/${version}`);
  const labels = { model: name, version: model.version };
  expectMethod(request, 'GET', 'PUT', 'DELETE');
  if (request.method === 'GET') {
    return json(200, [{
      modelName: model.name, modelVersion: String(model.version), modelUrl: model.file,
      minWorkers: model.workers, maxWorkers: model.workers, batchSize: model.maxBatchSize, maxBatchDelay: model.maxBatchDelayMs,
      workers: Array.from({ length: model.workers }, (_, i) => ({ id: String(9000 + i), status: 'READY' })),
    }], 'management', labels);
  }
  if (request.method === 'DELETE') {
    await manager.unregister(name);
    return json(200, { status: `Model "${name}" unregistered` }, 'management', labels);
  }
  const count = Number(request.query.get('min_worker') ?? NaN);
  if (!Number.isInteger(count)) throw badRequest(`scale: min_worker must be an integer, got ${JSON.stringify(request.query.get('min_worker'))}`);
  const scaled = await manager.scale(name, count);
  return json(200, { status: `Workers updated: model "${name}" has ${scaled.workers} worker(s)` }, 'management', labels);
}

/** Comparison whose time does not depend on where the texts differ. */
function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0 && b.length > 0;
}
