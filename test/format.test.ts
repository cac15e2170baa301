/** The kiln model file: round trips, an independent reader (Python safetensors), hostile files, atomic saves. */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as kiln from '../ts/index.node.js';
import { readSafetensors, writeSafetensors } from '../ts/io/safetensors.js';
import { sha256Hex } from '../ts/io/sha256.js';
import { randomValues } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kiln-format-'));
const python = existsSync(join(root, '.venv/bin/python')) ? join(root, '.venv/bin/python') : 'python3';

/** A model trained for a step, so its weights and batch-norm statistics are no longer their initial values. */
async function trained(model: kiln.Model, inputShape: number[]) {
  model.compile({ optimizer: new kiln.Adam(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
  const size = inputShape.reduce((a, b) => a * b, 1);
  await model.fit(randomValues(8 * size, 5), Int32Array.from({ length: 8 }, (_, i) => i % 10), { epochs: 1, batchSize: 8 });
  return model;
}

async function outputsOf(model: kiln.Model, x: Float32Array) {
  const out = await model.predict(x, { batchSize: 4 });
  const values = Array.from(await out.data());
  out.dispose();
  return values;
}

describe('model file', () => {
  beforeAll(async () => {
    await kiln.ready({ variant: 'simd' });
  });

  it('sha256 matches node:crypto across block boundaries', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
      const bytes = new Uint8Array(randomValues(Math.ceil(n / 4), n).buffer).subarray(0, n);
      expect(sha256Hex(bytes.subarray(0, n >> 1), bytes.subarray(n >> 1))).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  for (const [name, make] of [
    ['the seed CNN', () => kiln.cifar10Cnn({ seed: 3 })],
    ['ResNet-20', () => kiln.models.resnet20({ seed: 3 })],
  ] as const) {
    it(`${name}: save → load gives bit-identical predictions, and Python safetensors reads every tensor`, async () => {
      const model = await trained(make(), [32, 32, 3]);
      const x = Float32Array.from(randomValues(6 * 3072, 9), (v) => (v + 1) / 2);
      const want = await outputsOf(model, x);
      const path = join(dir, `${model.name}.kiln`);
      await model.save(path, { metadata: { classNames: ['a', 'b'], inputScale: 1 / 255 } });
      const loaded = await kiln.load(path);
      expect(await outputsOf(loaded, x)).toEqual(want);
      expect(loaded.summary()).toBe(model.summary());
      expect(loaded.metadata).toEqual({ classNames: ['a', 'b'], inputScale: 1 / 255 });
      // Loaded from bytes, an ArrayBuffer, a Blob and a Response alike.
      const bytes = readFileSync(path);
      for (const source of [new Uint8Array(bytes), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), new Blob([bytes]), new Response(bytes)]) {
        const again = await kiln.load(source as kiln.ModelSource);
        expect(await outputsOf(again, x.subarray(0, 3072))).toEqual(want.slice(0, 10));
        again.dispose();
      }

      const read = JSON.parse(execFileSync(python, [join(root, 'test/python/read_safetensors.py'), path], { encoding: 'utf8' }));
      expect(read.metadata.format).toBe('kiln');
      const tensors = model.layers.flatMap((l) => [...l.weights.map((t, i) => [`${l.name}/${l.weightNames[i]}`, t] as const), ...l.state.map((t, i) => [`${l.name}/${l.stateNames[i]}`, t] as const)]);
      expect(Object.keys(read.tensors).sort()).toEqual(tensors.map(([n]) => n).sort());
      for (const [tensorName, t] of tensors) {
        const values = (await t.data()) as Float32Array;
        expect(read.tensors[tensorName]).toEqual({ dtype: 'float32', shape: [...t.shape], sha256: createHash('sha256').update(new Uint8Array(values.buffer)).digest('hex') });
      }
      for (const m of [model, loaded]) m.dispose();
    });
  }

  it('loads from an http:// URL in Node; a missing file is a named error', async () => {
    const model = kiln.sequential([kiln.layers.dense(2)], { inputShape: [3], seed: 4 });
    const bytes = await model.toBytes();
    const server = createServer((req, res) => (req.url === '/m.kiln' ? res.end(bytes) : res.writeHead(404).end()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const loaded = await kiln.load(`${base}/m.kiln`);
      expect(Array.from(loaded.weights[0].dataSync())).toEqual(Array.from(model.weights[0].dataSync()));
      loaded.dispose();
      await expect(kiln.load(`${base}/missing.kiln`)).rejects.toThrow(`load(): fetching ${base}/missing.kiln answered 404`);
      await expect(kiln.load(join(dir, 'missing.kiln'))).rejects.toThrow(/load\(\): could not read .*missing.kiln.*ENOENT/);
    } finally {
      server.close();
      model.dispose();
    }
  });

  it('a loaded model trains on from where it was, like the original', async () => {
    const original = await trained(kiln.models.resnet20({ seed: 2 }), [32, 32, 3]);
    const copy = await kiln.load(await original.toBytes());
    copy.compile({ optimizer: new kiln.Adam(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    const x = randomValues(4 * 3072, 11);
    const y = new Int32Array([1, 2, 3, 4]);
    const fresh = kiln.models.resnet20({ seed: 2 });
    await copy.fit(x, y, { epochs: 1, batchSize: 4 });
    expect(Array.from(copy.weights[0].dataSync())).not.toEqual(Array.from(original.weights[0].dataSync()));
    for (const m of [original, copy, fresh]) m.dispose();
  });

  it('refuses files that lie, naming what and where', async () => {
    const model = kiln.sequential([kiln.layers.dense(3), kiln.layers.batchNormalization()], { inputShape: [4], seed: 1 });
    const good = await model.toBytes();
    const { metadata, tensors } = readSafetensors(good);
    const rebuild = (change: (m: Record<string, string>, t: { name: string; dtype: 'F32'; shape: number[]; bytes: Uint8Array }[]) => void) => {
      const list = [...tensors.values()].map((t) => ({ ...t, dtype: 'F32' as const, bytes: t.bytes.slice() }));
      const meta = { ...metadata };
      change(meta, list);
      meta.sha256 = sha256Hex(...list.map((e) => e.bytes));
      return writeSafetensors(list, meta);
    };
    const topology = JSON.parse(metadata.topology);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 3), /data_offsets \[\d+, \d+\] lie outside/],
      ['shorter than its length field', good.subarray(0, 5), /shorter than the 8-byte header length/],
      ['a huge header length', (() => { const b = good.slice(); new DataView(b.buffer).setUint32(4, 7, true); return b; })(), /exceeds safetensors' limit/],
      ['a header length past the end', (() => { const b = good.slice(); new DataView(b.buffer).setUint32(0, good.length, true); return b; })(), /runs past the end of the file/],
      ['a flipped tensor byte', (() => { const b = good.slice(); b[b.length - 5] ^= 0x10; return b; })(), /SHA-256 .* the file is corrupted/],
      ['not a kiln model', rebuild((m) => (m.format = 'other')), /__metadata__.format must be 'kiln'/],
      ['a future major version', rebuild((m) => (m.format_version = '2.0')), /format version 2.0 is not readable by this kiln \(it reads 1.x\)/],
      ['a missing tensor', rebuild((_m, t) => t.splice(t.findIndex((e) => e.name === 'dense/bias'), 1)), /tensor 'dense\/bias' is missing/],
      ['a wrong shape', rebuild((m, t) => { t.find((e) => e.name === 'dense/kernel')!.shape = [3, 4]; }), /tensor 'dense\/kernel' has shape \[3,4\], layer 'dense' needs \[4,3\]/],
      ['an unknown layer kind', rebuild((m) => (m.topology = JSON.stringify({ ...topology, layers: [{ ...topology.layers[0], kind: 'Evil' }, topology.layers[1]] }))), /unknown kind "Evil"/],
      ['a forward reference', rebuild((m) => (m.topology = JSON.stringify({ ...topology, nodes: [{ layer: 0, inputs: [{ node: 1 }] }, topology.nodes[1]] }))), /must name an input or an earlier node/],
      ['a bad layer config', rebuild((m) => (m.topology = JSON.stringify({ ...topology, layers: [{ ...topology.layers[0], config: { units: -1 } }, topology.layers[1]] }))), /layer 'dense' .*units must be a positive integer/],
      ['a dense layer of a billion units', rebuild((m) => (m.topology = JSON.stringify({ ...topology, layers: [{ ...topology.layers[0], config: { units: 1e9 } }, topology.layers[1]] }))), /has shape \[4,3\], layer 'dense' needs \[4,1000000000\]/],
      ['deeply nested JSON', rebuild((m) => (m.topology = '['.repeat(100_000) + ']'.repeat(100_000))), /nested deeper than 64 levels/],
    ];
    const before = kiln.memory().liveBytes;
    for (const [what, bytes, message] of cases) {
      const error = await kiln.load(bytes).then(() => null, (e) => e);
      expect(error, what).toBeInstanceOf(kiln.ModelFormatError);
      expect(error.message, what).toMatch(message);
    }
    expect(kiln.memory().liveBytes).toBe(before);
    model.dispose();
  });

  // KILN_FUZZ_COUNT=1000000 npx vitest run test/format.test.ts -t fuzz: the longer run reported in the notes.
  const fuzzCount = Number(process.env.KILN_FUZZ_COUNT ?? 5000);
  it(`fuzz: ${fuzzCount.toLocaleString('en-US')} mutated files give only ModelFormatError, quickly, with memory flat`, async () => {
    const model = kiln.sequential([kiln.layers.conv2d(2, 3), kiln.layers.batchNormalization(), kiln.layers.flatten(), kiln.layers.dense(3)], { inputShape: [5, 5, 1], seed: 1 });
    const good = await model.toBytes();
    model.dispose();
    const headerLength = new DataView(good.buffer).getUint32(0, true);
    let state = 12345;
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const pick = (n: number) => Math.floor(random() * n);
    const mutate = (): Uint8Array => {
      const b = good.slice();
      switch (pick(6)) {
        case 0: return good.subarray(0, pick(good.length)); // truncated
        case 1: for (let i = 0, n = 1 + pick(8); i < n; i++) b[pick(b.length)] ^= 1 << pick(8); return b; // bit flips
        case 2: for (let i = 0, n = 1 + pick(4); i < n; i++) b[8 + pick(headerLength)] = 32 + pick(95); return b; // header characters
        case 3: { const v = new DataView(b.buffer); v.setUint32(pick(2) * 4, [0, 1, 7, headerLength - 1, headerLength + 1, 0xffffffff, pick(2 ** 32)][pick(7)], true); return b; } // lying length
        case 4: { // lying offsets or shapes: rewrite a number in the header
          const text = new TextDecoder().decode(b.subarray(8, 8 + headerLength));
          const numbers = [...text.matchAll(/\d+/g)];
          const m = numbers[pick(numbers.length)];
          const replacement = String([0, 1, 2 ** 31, 2 ** 53, 1e308, pick(1e6)][pick(6)]);
          const changed = new TextEncoder().encode(text.slice(0, m.index) + replacement + text.slice(m.index! + m[0].length));
          const out = new Uint8Array(8 + changed.length + (b.length - 8 - headerLength));
          new DataView(out.buffer).setUint32(0, changed.length, true);
          out.set(changed, 8);
          out.set(b.subarray(8 + headerLength), 8 + changed.length);
          return out;
        }
        default: { const extra = new Uint8Array(pick(64)); return Uint8Array.from([...b, ...extra]); } // trailing bytes
      }
    };
    const before = kiln.memory().liveBytes;
    const started = performance.now();
    let loaded = 0;
    for (let i = 0; i < fuzzCount; i++) {
      const bytes = mutate();
      try {
        (await kiln.load(bytes)).dispose();
        loaded++; // a mutation that changed nothing that matters (e.g. header whitespace)
      } catch (error) {
        if (!(error instanceof kiln.ModelFormatError)) throw new Error(`mutation ${i} threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    expect(kiln.memory().liveBytes).toBe(before);
    console.log(`fuzz: ${fuzzCount} files in ${seconds.toFixed(1)} s, ${loaded} still valid (changes that matter to nothing)`);
    expect(seconds / fuzzCount).toBeLessThan(0.01);
    expect(loaded).toBeLessThan(fuzzCount / 10);
  });

  it('saves atomically: killed at random moments while saving, the file is always the old or the new one', async () => {
    const path = join(dir, 'atomic.kiln');
    const script = join(dir, 'save-loop.mjs');
    writeFileSync(script, `
      import * as kiln from ${JSON.stringify(join(root, 'dist/index.node.js'))};
      await kiln.ready({ variant: 'simd' });
      for (let seed = 1; ; seed++) {
        const model = kiln.models.resnet20({ seed });
        await model.save(${JSON.stringify(path)}, { metadata: { seed } });
        model.dispose();
        process.stdout.write('saved ' + seed + '\\n');
      }
    `);
    let killedMidSave = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let saves = 0;
      child.stdout!.on('data', (d) => (saves += String(d).split('saved').length - 1));
      await new Promise((r) => setTimeout(r, 900 + round * 157));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      if (saves > 0) killedMidSave++;
      if (existsSync(path)) {
        const model = await kiln.load(path);
        expect(typeof model.metadata.seed).toBe('number');
        model.dispose();
      }
    }
    expect(killedMidSave).toBeGreaterThan(0);
  });
});
