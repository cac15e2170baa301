// `kiln serve` end to end: the rollup build started on loopback ports, reached by stock clients (tritonclient,
// requests, curl), by raw HTTP for the protocols' edge cases and bad input, during version changes and SIGTERM.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { CIFAR10_CLASS_NAMES } from '../ts/data/cifar10.js';
import { decodeImage } from '../ts/io/images.js';
import { resizeRgb } from '../ts/io/resize.js';
import { randomValues } from './helpers.js';
import { cifarTestPng } from './model-fixtures.js';
import { startServe, type Served } from './serve/server.js';

const root = new URL('..', import.meta.url).pathname;
const python = join(root, '.venv/bin/python');
const ROWS = 3;

let dir: string;
let base: string;
let server: Served;
let x: Float32Array;
const expected: Record<string, number[]> = {};

async function trainedCnn(seed: number): Promise<kiln.Model> {
  const model = kiln.cifar10Cnn({ seed });
  model.compile({ optimizer: new kiln.Adam(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
  await model.fit(randomValues(8 * 3072, seed), Int32Array.from({ length: 8 }, (_, i) => i), { epochs: 1, batchSize: 8, verbose: 0 });
  return model;
}

const metadata = { classNames: [...CIFAR10_CLASS_NAMES], inputScale: 1 / 255, outputs: 'logits' };

async function predictions(model: kiln.Model, input: Float32Array): Promise<number[]> {
  const out = await model.predict(input);
  const values = Array.from((await out.data()) as Float32Array);
  out.dispose();
  return values;
}

let png: Uint8Array;
let imageTop5: [string, number][];
let integerX: Float32Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-serve-'));
  base = join(dir, 'models');
  await kiln.ready({ threads: 2 });
  const v1 = await trainedCnn(7);
  const v2 = await trainedCnn(8);
  mkdirSync(join(base, 'cnn', '1'), { recursive: true });
  await v1.save(join(base, 'cnn', '1', 'model.kiln'), { metadata });
  await v2.save(join(dir, 'v2.kiln'), { metadata });
  x = Float32Array.from(randomValues(ROWS * 3072, 21), (v) => (v + 1) / 2);
  writeFileSync(join(dir, 'input.bin'), new Uint8Array(x.buffer));
  expected.v1 = await predictions(v1, x);
  expected.v2 = await predictions(v2, x);
  integerX = Float32Array.from({ length: 3072 }, (_, i) => (i * 7) % 4);
  expected.integer = await predictions(v1, integerX);

  png = cifarTestPng(0);
  writeFileSync(join(dir, 'image.png'), png);
  const rgb = resizeRgb(decodeImage(png, 'image.png'), 32, 32);
  const logits = await predictions(v1, Float32Array.from(rgb, (v) => v / 255));
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  imageTop5 = exps.map((e, c) => [CIFAR10_CLASS_NAMES[c], e / total] as [string, number]).sort((a, b) => b[1] - a[1]).slice(0, 5);
  v1.dispose();
  v2.dispose();

  // Outside the base, reached by a symbolic link inside it: never served.
  mkdirSync(join(dir, 'outside', '1'), { recursive: true });
  cpSync(join(base, 'cnn', '1', 'model.kiln'), join(dir, 'outside', '1', 'model.kiln'));
  symlinkSync(join(dir, 'outside'), join(base, 'evil'));
  mkdirSync(join(base, 'extra'), { recursive: true });
  cpSync(join(base, 'cnn', '1', 'model.kiln'), join(base, 'extra', 'model.kiln'));
  symlinkSync(join(dir, 'outside', '1', 'model.kiln'), join(base, 'extra', 'link.kiln'));

  server = await startServe(base, ['--threads', '2', '--max-body-bytes', '1000000', '--management-port', '0', '--management-token', 'secret-token']);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { method: 'POST', body, headers });
const kserveJson = (data: number[] | Float32Array, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ inputs: [{ name: 'input', shape: [data.length / 3072, 32, 32, 3], datatype: 'FP32', data: Array.from(data) }], ...extra });

describe('kiln serve with stock clients', () => {
  it('answers tritonclient (binary, JSON, gzip and deflate) and requests (TF Serving rows and columns) with kiln predict\'s outputs', () => {
    const out = JSON.parse(execFileSync(python, [join(root, 'test/python/serve_clients.py'), server.host, 'cnn', join(dir, 'input.bin'), String(ROWS)], { encoding: 'utf8' }));
    expect(out).toMatchObject({ live: true, ready: true, model_ready: true, max_batch_size: 64 });
    for (const client of ['triton_binary', 'triton_json', 'triton_gzip', 'triton_deflate']) {
      expect(out[client], client).toEqual({ id: 'req-7', version: '1', values: expected.v1 });
    }
    expect(out.tf_row).toEqual(expected.v1);
    expect(out.tf_columnar).toEqual(expected.v1);
    expect(out.tf_status.model_version_status).toEqual([{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }]);
    const signature = out.tf_metadata.metadata.signature_def.signature_def.serving_default;
    expect(signature.inputs.input.tensor_shape.dim.map((d: { size: string }) => d.size)).toEqual(['-1', '32', '32', '3']);
    expect(signature.outputs.dense_1.dtype).toBe('DT_FLOAT');
  }, 60_000);

  it('classifies an image sent by curl -T, as multipart, and JSON instances, as TorchServe does', () => {
    const image = join(dir, 'image.png');
    const raw = JSON.parse(execFileSync('curl', ['-s', '-T', image, `${server.url}/predictions/cnn`], { encoding: 'utf8' }));
    expect(Object.keys(raw)).toEqual(imageTop5.map(([name]) => name));
    imageTop5.forEach(([name, p]) => expect(raw[name]).toBeCloseTo(p, 6));
    const form = JSON.parse(execFileSync('curl', ['-s', '-F', `data=@${image}`, `${server.url}/predictions/cnn/1`], { encoding: 'utf8' }));
    expect(form).toEqual(raw);
    expect(JSON.parse(execFileSync('curl', ['-s', `${server.url}/ping`], { encoding: 'utf8' }))).toEqual({ status: 'Healthy' });
  });
});

describe('kiln serve protocols', () => {
  it('takes every KServe datatype kiln lists, binary and JSON, and requested outputs', async () => {
    const binary = (datatype: string, bytes: Uint8Array) => {
      const header = new TextEncoder().encode(JSON.stringify({ id: datatype, inputs: [{ name: 'input', shape: [1, 32, 32, 3], datatype, parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'dense_1' }] }));
      const body = new Uint8Array(header.length + bytes.length);
      body.set(header);
      body.set(bytes, header.length);
      return post('/v2/models/cnn/infer', body, { 'inference-header-content-length': String(header.length) });
    };
    const f16 = new Uint16Array(integerX.length);
    integerX.forEach((v, i) => (f16[i] = [0, 0x3c00, 0x4000, 0x4200][v])); // 0, 1, 2, 3 in half precision
    const cases: [string, Uint8Array][] = [
      ['UINT8', Uint8Array.from(integerX)],
      ['INT8', new Uint8Array(Int8Array.from(integerX).buffer)],
      ['INT32', new Uint8Array(Int32Array.from(integerX).buffer)],
      ['INT64', new Uint8Array(BigInt64Array.from(integerX, (v) => BigInt(v)).buffer)],
      ['FP16', new Uint8Array(f16.buffer)],
      ['FP32', new Uint8Array(integerX.buffer.slice(0))],
    ];
    for (const [datatype, bytes] of cases) {
      const response = await binary(datatype, bytes);
      expect(response.status, datatype).toBe(200);
      const out = await response.json();
      expect(out.id).toBe(datatype);
      expect(out.outputs[0].data, datatype).toEqual(expected.integer);
    }
    const asInt64Json = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 32, 32, 3], datatype: 'INT64', data: Array.from(integerX) }] });
    expect((await (await post('/v2/models/cnn/versions/1/infer', asInt64Json)).json()).outputs[0].data).toEqual(expected.integer);

    // binary_data_output: the whole answer as raw float32 after the JSON header.
    const response = await post('/v2/models/cnn/infer', kserveJson(x, { parameters: { binary_data_output: true } }));
    const length = Number(response.headers.get('inference-header-content-length'));
    const bytes = new Uint8Array(await response.arrayBuffer());
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, length)));
    expect(header.outputs[0]).toEqual({ name: 'dense_1', datatype: 'FP32', shape: [ROWS, 10], parameters: { binary_data_size: ROWS * 40 } });
    expect(Array.from(new Float32Array(bytes.slice(length).buffer))).toEqual(expected.v1);
  });

  it('answers compressed on Accept-Encoding and needs no Content-Type', async () => {
    const response = await post('/v2/models/cnn/infer', gzipSync(kserveJson(x)), { 'content-encoding': 'gzip', 'accept-encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect((await response.json()).outputs[0].data).toEqual(expected.v1); // fetch inflates it
  });

  it('takes TF Serving NaN and Infinity tokens, which other protocols refuse', async () => {
    const row = Array.from(x.subarray(0, 3072));
    for (const token of ['NaN', 'Infinity', '-Infinity']) {
      const text = JSON.stringify({ instances: [nest(row)] }).replace(/^(\{"instances":\[\[\[\[)[-0-9.e]+/, `$1${token}`);
      expect(text).toContain(`[[[[${token},`);
      const response = await post('/v1/models/cnn:predict', text);
      expect(response.status, token).toBe(200);
      expect((await response.text()).startsWith('{"predictions":[[')).toBe(true);
    }
    const strict = await post('/v2/models/cnn/infer', kserveJson(x).replace(/"data":\[[-0-9.e]+/, '"data":[NaN'));
    expect(strict.status).toBe(400);
    expect((await strict.json()).error).toContain("'NaN' is not JSON");
  });

  it('lists the server, models and versions as each protocol does', async () => {
    const get = async (path: string) => {
      const response = await fetch(`${server.url}${path}`);
      return { status: response.status, body: await response.json() };
    };
    expect(await get('/v2')).toMatchObject({ status: 200, body: { name: 'kiln', extensions: expect.arrayContaining(['binary_tensor_data']) } });
    expect(await get('/v2/health/live')).toMatchObject({ status: 200 });
    expect(await get('/v2/models/cnn/versions/1/ready')).toEqual({ status: 200, body: { name: 'cnn', ready: true } });
    expect(await get('/v2/models/cnn/versions/9')).toMatchObject({ status: 404, body: { error: expect.stringContaining('no served version 9') } });
    expect(await get('/v1/models/cnn/versions/1')).toMatchObject({ status: 200 });
    expect(await get('/v1/models/cnn/versions/9')).toEqual({ status: 404, body: { error: 'Servable not found for request: Specific(cnn, 9)' } });
    expect(await get('/v2/models/cnn/config')).toMatchObject({ status: 200, body: { max_batch_size: 64, input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [32, 32, 3] }] } });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/kiln_requests_total\{protocol="kserve",model="cnn",version="1",status="200"\} \d+/);
    expect(metrics).toMatch(/kiln_batch_size_bucket\{le="1",model="cnn"\} \d+/);
    expect(metrics).toMatch(/kiln_model_load_seconds\{model="cnn",version="1"\} [0-9.e-]+/);
    expect(metrics).toContain('kiln_queue_depth{model="cnn"} 0');
  });
});

function nest(row: number[]): number[][][] {
  return Array.from({ length: 32 }, (_, h) => Array.from({ length: 32 }, (_, w) => row.slice((h * 32 + w) * 3, (h * 32 + w) * 3 + 3)));
}

describe('kiln serve refuses bad input with named errors and keeps serving', () => {
  const send = async (path: string, body: BodyInit | undefined, init: RequestInit = {}) => {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', body, ...init });
    return { status: response.status, body: await response.json().catch(() => null) };
  };

  it('answers each bad request with its status, in each protocol\'s error shape', async () => {
    const big = new Uint8Array(1_000_001);
    expect(await send('/v2/models/cnn/infer', big)).toMatchObject({ status: 413, body: { error: expect.stringContaining('limit of 1000000 bytes') } });
    const bomb = gzipSync(new Uint8Array(50_000_000));
    expect(bomb.length).toBeLessThan(100_000);
    expect(await send('/v2/models/cnn/infer', bomb, { headers: { 'content-encoding': 'gzip' } })).toMatchObject({ status: 413, body: { error: expect.stringContaining('inflates past the body limit') } });
    expect(await send('/v1/models/cnn:predict', `{"instances": ${'['.repeat(100_000)}`)).toMatchObject({ status: 400, body: { error: expect.stringContaining('nested deeper than 32') } });
    const shape = kserveJson(x).replace('"shape":[3,32,32,3]', '"shape":[3,32,32,1]');
    expect(await send('/v2/models/cnn/infer', shape)).toEqual({ status: 400, body: { error: "input 'input': expected shape [batch, 32,32,3], got [3,32,32,1]" } });
    expect((await send('/v2/models/cnn/infer', kserveJson(x).replace('"FP32"', '"BYTES"'))).body.error).toContain("input 'input': datatype must be one of");
    expect((await send('/v2/models/cnn/infer', kserveJson(x).replace('"name":"input"', '"name":"pixels"'))).body.error).toContain("input 'pixels': unknown input name; the model's inputs are 'input'");
    expect((await send('/v2/models/cnn/infer', kserveJson(x, { outputs: [{ name: 'nope' }] }))).body.error).toContain('requested output "nope"');
    expect(await send('/v1/models/cnn:predict', JSON.stringify({ instances: [[[1, 2]]] }))).toEqual({ status: 400, body: { error: "input 'input' of instance 0: expected shape [32,32,3], got [1,2]" } });
    expect((await send('/v1/models/cnn:predict', JSON.stringify({ instances: [nest(Array.from(x.subarray(0, 3072)))], signature_name: 'other' }))).body.error).toContain('"other" not found');
    expect(await send('/predictions/cnn', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2]))).toMatchObject({ status: 400, body: { code: 400, type: 'BadRequestException', message: expect.stringContaining('not a readable PNG') } });

    expect(await send('/v2/models/nope/infer', kserveJson(x))).toEqual({ status: 404, body: { error: "model 'nope' is not served" } });
    expect(await send('/v1/models/nope:predict', '{}')).toEqual({ status: 404, body: { error: 'Could not find any versions of model nope' } });
    expect(await send('/predictions/nope', png)).toEqual({ status: 404, body: { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' } });
    expect((await send('/predictions/cnn/4', png)).status).toBe(404);
    expect((await send('/v2/models/..%2F..%2Fetc%2Fpasswd/infer', '{}')).body.error).toContain('"../../etc/passwd" is not allowed');
    expect((await send('/v2/models/evil/infer', kserveJson(x))).status).toBe(404);
    expect(server.output()).toMatch(/evil: skipped: .* outside the model base/);
    expect(await send('/v2/models/cnn/infer', undefined, { method: 'GET' })).toMatchObject({ status: 405 });
    expect((await fetch(`${server.url}/v2/models/cnn`, { method: 'DELETE' })).headers.get('allow')).toBe('GET');
    expect((await send('/models', undefined, { method: 'GET' })).status).toBe(404); // no management on the inference port

    const ok = await send('/v2/models/cnn/infer', kserveJson(x));
    expect(ok.body.outputs[0].data).toEqual(expected.v1);
  });

  it('stays within bounded memory over 30 s of random bodies, and answers correctly afterwards', async () => {
    const paths = ['/v1/models/cnn:predict', '/v2/models/cnn/infer', '/predictions/cnn', '/v2/models/cnn/versions/1/infer', '/v1/models/cnn/versions/1:predict'];
    const rss = async () => Number(/resident_memory_bytes (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())![1]);
    let seed = 99;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const fragments = ['{"instances":', '{"inputs":[{"name":"input","shape":[1,32,32,3],"datatype":"FP32","data":', '[', ']', '{', '}', ',', '1e308', 'NaN', '"b64"', '-0', 'null', '"parameters":{"binary_data_size":99999}', '\u0000'];
    const body = () => {
      if (random() < 0.2) return Uint8Array.from({ length: Math.floor(random() * 20000) }, () => Math.floor(random() * 256));
      return Array.from({ length: Math.floor(random() * 400) }, () => fragments[Math.floor(random() * fragments.length)]).join('');
    };
    const statuses = new Map<number, number>();
    const run = async (until: number) => {
      while (Date.now() < until) {
        const headers: Record<string, string> = random() < 0.3 ? { 'inference-header-content-length': String(Math.floor(random() * 5000)) } : {};
        const response = await fetch(`${server.url}${paths[Math.floor(random() * paths.length)]}`, { method: 'POST', body: body(), headers });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    };
    await run(Date.now() + 3000);
    const before = await rss();
    await Promise.all(Array.from({ length: 4 }, () => run(Date.now() + 27_000)));
    const after = await rss();
    expect([...statuses.keys()].every((s) => s === 400 || s === 413 || s === 415 || s === 200), JSON.stringify([...statuses])).toBe(true);
    expect(after - before).toBeLessThan(64 * 2 ** 20);
    const ok = await send('/v2/models/cnn/infer', kserveJson(x));
    expect(ok.body.outputs[0].data).toEqual(expected.v1);
  }, 60_000);
});

describe('kiln serve models and versions', () => {
  it('serves a new version directory within the poll interval, with no failed request, then retires the old one', async () => {
    let failures = 0;
    const seen = new Map<string, number[]>();
    let running = true;
    const load = async () => {
      while (running) {
        const response = await post('/v2/models/cnn/infer', kserveJson(x));
        if (response.status !== 200) failures++;
        else {
          const out = await response.json();
          seen.set(out.model_version, out.outputs[0].data);
        }
      }
    };
    const clients = Array.from({ length: 8 }, load);
    await new Promise((r) => setTimeout(r, 1000));
    // A version appears whole: written beside, then renamed into the model's directory.
    mkdirSync(join(dir, 'staging'), { recursive: true });
    cpSync(join(dir, 'v2.kiln'), join(dir, 'staging', 'model.kiln'));
    renameSync(join(dir, 'staging'), join(base, 'cnn', '2'));
    const appeared = Date.now();
    while (!seen.has('2') && Date.now() - appeared < 10_000) await new Promise((r) => setTimeout(r, 50));
    const servedAfter = Date.now() - appeared;
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(clients);
    expect(failures).toBe(0);
    expect(servedAfter).toBeLessThan(3000); // the 1 s poll and the load
    expect(seen.get('1')).toEqual(expected.v1);
    expect(seen.get('2')).toEqual(expected.v2);
    expect(server.output()).toContain('cnn: version 1 retired (version 2 replaces it)');
    expect((await fetch(`${server.url}/v2/models/cnn/versions/1`)).status).toBe(404);
    expect((await (await fetch(`${server.url}/v1/models/cnn`)).json()).model_version_status[0].version).toBe('2');
  }, 30_000);

  it('has a management API only on its own loopback port, behind a token, reading only inside the model base', async () => {
    const managementUrl = /management API: (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())![1];
    const manage = async (method: string, path: string, token = 'secret-token') => {
      const response = await fetch(`${managementUrl}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: response.status, body: await response.json() };
    };
    expect(await manage('GET', '/models', '')).toMatchObject({ status: 401, body: { code: 401, type: 'InvalidKeyException' } });
    expect(await manage('GET', '/models', 'wrong')).toMatchObject({ status: 401 });
    expect((await manage('GET', '/models')).body.models).toEqual([{ modelName: 'cnn', modelUrl: 'cnn/2/model.kiln' }]);
    expect(await manage('POST', '/models?url=https://example.com/m.kiln')).toMatchObject({ status: 400, body: { message: expect.stringContaining('never fetches models from URLs') } });
    expect(await manage('POST', '/models?url=../outside/1/model.kiln')).toMatchObject({ status: 403 });
    expect(await manage('POST', '/models?url=extra/link.kiln')).toMatchObject({ status: 403, body: { message: expect.stringContaining('outside the model base') } });
    expect(await manage('POST', '/models?url=extra/model.kiln&model_name=extra&initial_workers=99')).toMatchObject({ status: 400, body: { message: 'initial_workers must be an integer from 1 to 16, got 99' } });
    expect(await manage('POST', '/models?url=extra/model.kiln&model_name=extra')).toEqual({ status: 200, body: { status: 'Model "extra" Version: 1 registered with 1 initial workers' } });
    const predict = async () => (await (await post('/v2/models/extra/infer', kserveJson(x))).json()).outputs[0].data;
    expect(await predict()).toEqual(expected.v1);
    expect((await manage('PUT', '/models/extra?min_worker=2')).status).toBe(200);
    expect((await manage('GET', '/models/extra')).body[0]).toMatchObject({ modelName: 'extra', minWorkers: 2, workers: [{ status: 'READY' }, { status: 'READY' }] });
    const together = await Promise.all(Array.from({ length: 6 }, predict));
    for (const out of together) expect(out).toEqual(expected.v1);
    expect(await manage('DELETE', '/models/extra')).toEqual({ status: 200, body: { status: 'Model "extra" unregistered' } });
    expect((await post('/v2/models/extra/infer', kserveJson(x))).status).toBe(404);
  }, 30_000);
});

describe('kiln serve under pressure', () => {
  it('answers 503 when the queue is full, 504 past a deadline, and on SIGTERM answers what is in flight and exits 0', async () => {
    const slow = await startServe(join(base, 'cnn', '1', 'model.kiln'), ['--name', 'cnn', '--threads', '1', '--max-queue-size', '4', '--batch-timeout-micros', '300000', '--request-timeout-ms', '5000']);
    try {
      const infer = (rows: number, extra = {}) => fetch(`${slow.url}/v2/models/cnn/infer`, { method: 'POST', body: kserveJson(x.subarray(0, rows * 3072), extra) });
      const first = infer(3);
      await new Promise((r) => setTimeout(r, 50));
      const full = await infer(2);
      expect(full.status).toBe(503);
      expect((await full.json()).error).toContain('queue of this model is full');
      expect((await first).status).toBe(200);
      const late = await infer(1, { parameters: { timeout: 100_000 } });
      expect(late.status).toBe(504);
      expect((await late.json()).error).toContain('deadline of 100 ms passed');

      const inFlight = Array.from({ length: 4 }, () => infer(1));
      await new Promise((r) => setTimeout(r, 100));
      const code = slow.stop();
      const answers = await Promise.all(inFlight);
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(await code).toBe(0);
      expect(slow.output()).toContain('SIGTERM: answering the requests in flight');
    } finally {
      await slow.stop();
    }
  }, 30_000);
});
