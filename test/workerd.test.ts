/** kiln inside real workerd (npm `workerd`), the Worker bundled by rollup with the simd wasm as a wasm module. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rollup } from 'rollup';
import { FIXTURE_MODELS, writeModelFixtures, type Fixtures } from './model-fixtures.js';

const root = new URL('..', import.meta.url).pathname;
let dir: string;
let fixtures: Fixtures;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-workerd-'));
  fixtures = await writeModelFixtures(dir);
  const bundle = await rollup({
    input: join(root, 'test/workerd/worker.js'),
    external: ['./kiln.wasm', './input.bin', ...FIXTURE_MODELS.map((m) => `./${m}.kiln`)],
    onwarn: (warning, warn) => warning.code !== 'CIRCULAR_DEPENDENCY' && warn(warning),
  });
  await bundle.write({ file: join(dir, 'worker.js'), format: 'es', inlineDynamicImports: true });
  await bundle.close();
  copyFileSync(join(root, 'pkg/simd/kiln_wasm_bg.wasm'), join(dir, 'kiln.wasm'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts workerd with the bundled Worker at `compatibilityDate`, fetches `/` once and stops it. */
export async function runWorker(compatibilityDate: string, path = '/'): Promise<Record<string, any>> {
  const port = await freePort();
  const config = join(dir, `config-${compatibilityDate}.capnp`);
  writeFileSync(config, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"), (name = "kiln.wasm", wasm = embed "kiln.wasm"),
    (name = "cnn.kiln", data = embed "cnn.kiln"), (name = "resnet20.kiln", data = embed "resnet20.kiln"), (name = "input.bin", data = embed "input.bin"),
  ],
  compatibilityDate = "${compatibilityDate}",
);
`);
  return withWorkerd(config, port, async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: response.status, ...(await response.json()) };
  });
}

/** Runs `use` while workerd serves `config` on `port` (retrying until it listens), then stops it. */
async function withWorkerd<T>(config: string, port: number, use: () => Promise<T>): Promise<T> {
  const child: ChildProcess = spawn(join(root, 'node_modules/.bin/workerd'), ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fetch(`http://127.0.0.1:${port}/v2/health/live`);
        break;
      } catch {
        if (child.exitCode !== null) throw new Error(`workerd exited: ${stderr}`);
        if (attempt === 100) throw new Error(`workerd did not answer: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return await use();
  } finally {
    child.kill();
  }
}

describe('workerd', () => {
  it('loads model files saved by Node, with bit-identical predictions', async () => {
    const out = await runWorker('2026-11-01', '/models');
    expect(out.error).toBeUndefined();
    for (const name of FIXTURE_MODELS) expect(out.predictions[name]).toEqual(fixtures.expected[name]);
    expect(out.liveBytes).toBe(0);
  });

  it('runs kiln with a current compatibility date, the GC safety net on', async () => {
    const out = await runWorker('2026-11-01');
    expect(out.error).toBeUndefined();
    expect(out.values).toEqual([19, 22, 43, 50]);
    expect(out.info).toMatchObject({ backend: 'wasm', platform: 'edge', variant: 'simd', gcSafetyNet: true });
    expect(out.liveBytes).toBe(0);
  });

  it('runs kiln where FinalizationRegistry does not exist (compatibility date 2025-01-01), saying the net is off', async () => {
    const out = await runWorker('2025-01-01');
    expect(out.finalizationRegistry).toBe('undefined');
    expect(out.error).toBeUndefined();
    expect(out.values).toEqual([19, 22, 43, 50]);
    expect(out.info).toMatchObject({ backend: 'wasm', platform: 'edge', gcSafetyNet: false });
    expect(out.liveBytes).toBe(0);
  });
});

describe('workerd serving (examples/edge)', () => {
  it('answers TF Serving, KServe v2 (JSON, binary, gzip) and TorchServe routes, and bad requests, with the predictions Node makes', async () => {
    const edge = join(dir, 'edge');
    execFileSync('node', [join(root, 'examples/edge/build.mjs'), join(dir, 'cnn.kiln'), join(edge, 'build')], { stdio: 'pipe' });
    const port = await freePort();
    const config = join(edge, 'config.capnp');
    writeFileSync(config, readFileSync(join(root, 'examples/edge/config.capnp'), 'utf8').replace('127.0.0.1:8787', `127.0.0.1:${port}`));
    const x = new Float32Array(readFileSync(join(dir, 'input.bin')).buffer.slice(0));
    const rows = x.length / 3072;
    const want = fixtures.expected.cnn;
    await withWorkerd(config, port, async () => {
      const url = `http://127.0.0.1:${port}`;
      const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { method: 'POST', body, headers });
      const nested = Array.from({ length: rows }, (_, r) => Array.from({ length: 32 }, (_, h) => Array.from({ length: 32 }, (_, w) => Array.from(x.subarray(r * 3072 + (h * 32 + w) * 3, r * 3072 + (h * 32 + w) * 3 + 3)))));
      const tf = await (await post('/v1/models/cnn:predict', JSON.stringify({ instances: nested }))).json();
      expect(tf.predictions.flat()).toEqual(want);
      const request = JSON.stringify({ id: 'edge', inputs: [{ name: 'input', shape: [rows, 32, 32, 3], datatype: 'FP32', data: Array.from(x) }] });
      const kserve = await (await post('/v2/models/cnn/infer', gzipSync(request), { 'content-encoding': 'gzip', 'accept-encoding': 'gzip' })).json();
      expect(kserve).toMatchObject({ id: 'edge', model_name: 'cnn', model_version: '1' });
      expect(kserve.outputs[0].data).toEqual(want);
      const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 32, 32, 3], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
      const binary = await post('/v2/models/cnn/infer', new Blob([header, x]), { 'inference-header-content-length': String(header.length) });
      const bytes = new Uint8Array(await binary.arrayBuffer());
      const length = Number(binary.headers.get('inference-header-content-length'));
      expect(Array.from(new Float32Array(bytes.slice(length).buffer))).toEqual(want);
      const torch = await (await post('/predictions/cnn', JSON.stringify({ instances: nested }), { 'content-type': 'application/json' })).json();
      expect(torch).toHaveLength(rows);
      expect(Object.keys(torch[0])).toHaveLength(5);
      expect(await (await fetch(`${url}/v2/models/cnn/config`)).json()).toMatchObject({ max_batch_size: 64 });
      const bad = await post('/v2/models/cnn/infer', request.replace('"shape":[3,', '"shape":[2,'));
      expect(bad.status).toBe(400);
      expect((await bad.json()).error).toContain('its shape holds 6144 elements, "data" has 9216');
      expect((await fetch(`${url}/v1/models/nope`)).status).toBe(404);
      const bomb = await post('/v2/models/cnn/infer', gzipSync(new Uint8Array(50 * 1024 * 1024)), { 'content-encoding': 'gzip' });
      expect(bomb.status).toBe(413);
      expect((await bomb.json()).error).toContain('inflates past the body limit of 4194304 bytes');
    });
  }, 60_000);
});
