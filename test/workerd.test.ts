/** kiln inside real workerd (npm `workerd`), the Worker bundled by rollup with the simd wasm as a wasm module. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  const child: ChildProcess = spawn(join(root, 'node_modules/.bin/workerd'), ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: response.status, ...(await response.json()) };
      } catch {
        if (child.exitCode !== null) throw new Error(`workerd exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`workerd did not answer: ${stderr}`);
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
