// The published artifact: `npm pack`, install the tarball into a fresh project, import it from plain Node
// (default entry, threads) and through the edge entry with compiling from bytes forbidden, as in Workers.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
let project: string;
let files: string[];

beforeAll(() => {
  const packDir = mkdtempSync(join(tmpdir(), 'kiln-pack-'));
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: root, encoding: 'utf8' }));
  files = packed.files.map((f: { path: string }) => f.path);
  project = mkdtempSync(join(tmpdir(), 'kiln-project-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
  // The runtime dependencies come from npm's cache when it has them, else from the registry.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, packed.filename)], { cwd: project, stdio: 'pipe' });
});

const run = (script: string, args: string[] = []) =>
  JSON.parse(execFileSync('node', [...args, '--input-type=module', '-e', script], { cwd: project, encoding: 'utf8' }));

describe('npm package', () => {
  it('ships the wasm variants and the rollup output, no sources', () => {
    for (const variant of ['simd', 'threads', 'simd-relaxed', 'threads-relaxed']) {
      expect(files).toContain(`pkg/${variant}/kiln_wasm_bg.wasm`);
      expect(files).toContain(`pkg/${variant}/kiln_wasm.js`);
    }
    expect(files).toContain('dist/index.node.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files.some((f) => f.startsWith('ts/') || f.startsWith('crates/'))).toBe(false);
  });

  it('imports from plain Node, multiplies with threads, exports ONNX from kiln/onnx', () => {
    const out = run(`
      import * as kiln from 'kiln';
      const info = await kiln.ready({ threads: 2 });
      const c = kiln.matMul(kiln.tensor([[1, 2], [3, 4]]), kiln.tensor([[5, 6], [7, 8]]));
      const { toOnnx } = await import('kiln/onnx');
      const onnx = await toOnnx(kiln.cifar10Cnn());
      console.log(JSON.stringify({ info, values: Array.from(await c.data()), onnxBytes: onnx.length }));
    `);
    expect(out.values).toEqual([19, 22, 43, 50]);
    expect(out.onnxBytes).toBeGreaterThan(490_000); // kiln/onnx: the exporter, with @bufbuild/protobuf installed as a dependency
    expect(out.info).toMatchObject({ backend: 'wasm', platform: 'node', threads: 2 });
  });

  it('the edge entry runs on an imported WebAssembly.Module, never compiling bytes', () => {
    const out = run(`
      import { readFileSync } from 'node:fs';
      import { createRequire } from 'node:module';
      const wasmPath = createRequire(import.meta.url).resolve('kiln/wasm/simd.wasm');
      const wasmModule = new WebAssembly.Module(readFileSync(wasmPath)); // what a Workers bundler hands over
      const forbidden = () => { throw new Error('compiling wasm from bytes is forbidden here'); };
      WebAssembly.compile = forbidden;
      WebAssembly.instantiate = (m, i) => (m instanceof WebAssembly.Module ? new WebAssembly.Instance(m, i) : forbidden());
      const kiln = await import('kiln');
      const info = await kiln.ready({ wasmModule });
      const c = kiln.matMul(kiln.tensor([[1, 2, 3]]), kiln.tensor([[1], [1], [1]]));
      let missing;
      try { await kiln.ready({}); } catch (e) { missing = e.message; }
      console.log(JSON.stringify({ info, values: Array.from(await c.data()), missing }));
    `, ['--conditions=workerd']);
    expect(out.values).toEqual([6]);
    expect(out.info).toMatchObject({ backend: 'wasm', platform: 'edge', variant: 'simd', threads: 1 });
    expect(out.missing).toContain("pass { wasmModule } imported from 'kiln/wasm/simd.wasm'");
  });

  it('its `kiln serve` (bin, inference worker, metrics) answers and stops on SIGTERM', async () => {
    run(`
      import * as kiln from 'kiln';
      await kiln.ready({ threads: 1 });
      await kiln.cifar10Cnn().save('model.kiln');
      console.log('{}');
    `);
    const child = spawn(join(project, 'node_modules/.bin/kiln'), ['serve', 'model.kiln', '--port', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      while (!/listening on (\S+)/.test(output) && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const url = /listening on (\S+)/.exec(output)?.[1];
      expect(url, output).toBeDefined();
      expect((await fetch(`${url}/v2/models/model/ready`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain('kiln_model_load_seconds{model="model",version="1"}');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});
