/** `kiln serve MODEL_BASE | FILE.kiln`: the server of ts/serve/node.ts, until SIGTERM or SIGINT. */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { KilnError } from '../errors.js';
import { startServer } from '../serve/node.js';

export interface ServeCommandOptions {
  name?: string;
  host: string;
  port: number;
  maxBatchSize: number;
  batchTimeoutMicros: number;
  batching: boolean;
  maxQueueSize: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  pollSeconds: number;
  threads?: number;
  workers: number;
  managementPort?: number;
  managementToken?: string;
}

const log = (line: string) => process.stdout.write(`${line}\n`);

export async function serveCommand(target: string, options: ServeCommandOptions): Promise<void> {
  const info = await stat(target).catch(() => {
    throw new KilnError(`kiln serve: ${target} does not exist (give MODEL_BASE/NAME/VERSION/model.kiln's MODEL_BASE, or a .kiln file)`);
  });
  const single = info.isFile() ? { file: target, name: options.name ?? basename(target).replace(/\.kiln$/, '') } : undefined;
  if (single && !/^[A-Za-z0-9_.-]+$/.test(single.name)) throw new KilnError(`kiln serve: model name '${single.name}' is not allowed (names are [A-Za-z0-9_.-]+); give --name`);
  const token = options.managementPort === undefined ? undefined : (options.managementToken ?? process.env.KILN_MANAGEMENT_TOKEN ?? randomBytes(18).toString('base64url'));
  const server = await startServer({
    base: single ? dirname(target) : target,
    single,
    host: options.host,
    port: options.port,
    maxBodyBytes: options.maxBodyBytes,
    threads: options.threads,
    workers: options.workers,
    pollSeconds: options.pollSeconds,
    batching: {
      enabled: options.batching,
      maxBatchSize: options.maxBatchSize,
      batchTimeoutMicros: options.batchTimeoutMicros,
      maxQueueRows: options.maxQueueSize,
      requestTimeoutMs: options.requestTimeoutMs,
    },
    management: token === undefined ? undefined : { port: options.managementPort!, token },
    log,
  });
  log(`kiln serve: listening on ${server.url}`);
  for (const model of server.repository.list()) {
    log(`  ${model.name} (version ${model.version}):`);
    log(`    TF Serving  POST ${server.url}/v1/models/${model.name}:predict`);
    log(`    KServe v2   POST ${server.url}/v2/models/${model.name}/infer`);
    log(`    TorchServe  POST ${server.url}/predictions/${model.name}`);
  }
  log(`  health ${server.url}/v2/health/ready, ${server.url}/ping; metrics ${server.url}/metrics`);
  if (server.managementUrl) log(`management API: ${server.managementUrl}/models (Authorization: Bearer ${token})`);
  log(`batching: ${options.batching ? `up to ${options.maxBatchSize} rows within ${options.batchTimeoutMicros} µs` : 'off'}`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`kiln serve: ${signal}: answering the requests in flight, then stopping`);
      server.close().then(resolve, (error) => {
        process.stderr.write(`kiln serve: ${(error as Error).message}\n`);
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log('kiln serve: stopped');
}
