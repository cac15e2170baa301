// Headless Chromium (Debian's, driven by playwright-core) loads the rollup output from a local server, once
// with COOP/COEP (cross-origin isolated: threads in a Worker) and once without (single-threaded everywhere).
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { cifarTestPng, writeModelFixtures, type Fixtures } from './model-fixtures.js';
import { decodeImage } from '../ts/io/images.js';

const root = new URL('..', import.meta.url).pathname;
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

function serve(isolated: boolean, page = 'page.html'): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    try {
      const body = await readFile(join(root, path));
      const headers: Record<string, string> = { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' };
      if (isolated) {
        headers['cross-origin-opener-policy'] = 'same-origin';
        headers['cross-origin-embedder-policy'] = 'require-corp';
      }
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${port}/test/browser/${page}` });
    }),
  );
}

let browser: Browser;
let fixtures: Fixtures;

beforeAll(async () => {
  fixtures = await writeModelFixtures(join(root, 'test/browser/.generated'));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-quic',
    ], // playwright gives each launch a fresh profile
  });
});

afterAll(async () => {
  await browser?.close();
});

/** Runs a test page until it sets `kilnResult`; `onPage` may watch the page (its promise is awaited before closing). */
async function runPage(isolated: boolean, file = 'page.html', onPage?: (page: Page) => Promise<unknown>) {
  const { server, url } = await serve(isolated, file);
  const page = await browser.newPage({ acceptDownloads: true });
  const watching = onPage?.(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(url);
    await page.waitForFunction(() => (window as { kilnResult?: unknown }).kilnResult !== undefined, null, { timeout: 90_000 });
    const result = await page.evaluate(() => (window as { kilnResult?: unknown }).kilnResult);
    expect(errors).toEqual([]);
    await watching;
    return result as Record<string, any> & Record<string, { info: Record<string, unknown>; maxError: number; cases: number; training: { first: number; last: number }; crossOriginIsolated: boolean; error?: string }>;
  } finally {
    await page.close();
    server.close();
  }
}

describe('headless Chromium', () => {
  it('cross-origin isolated: threads in a Worker, single-threaded on the main thread, all match the reference', async () => {
    const r = await runPage(true);
    expect(r.error).toBeUndefined();
    expect(r.worker.crossOriginIsolated).toBe(true);
    expect(r.worker.info).toMatchObject({ backend: 'wasm', platform: 'browser', threads: 2 });
    expect(r.worker.info.variant).toMatch(/^threads/);
    expect(r.mainThread.info.variant).toMatch(/^simd/);
    expect(r.mainThread.info.reason).toContain("main thread may not block");
    expect(r.workerSimd.info).toMatchObject({ variant: 'simd', threads: 1 });
    for (const run of [r.mainThread, r.worker, r.workerSimd]) {
      expect(run.cases).toBe(16);
      expect(run.maxError).toBeLessThan(1e-4);
      expect(run.training.last).toBeLessThan(run.training.first * 0.8); // a CNN trains, threaded or not
    }
  });

  it('loads model files saved by Node (URL and IndexedDB) with bit-identical predictions', async () => {
    let download: { name: string; path: string } | undefined;
    const r = await runPage(false, 'model.html', async (page) => {
      const d = await page.waitForEvent('download');
      download = { name: d.suggestedFilename(), path: join(fixtures.dir, 'downloaded.kiln') };
      await d.saveAs(download.path);
    });
    expect(r.error).toBeUndefined();
    expect(r.info).toMatchObject({ variant: 'simd', platform: 'browser' });
    for (const name of ['cnn', 'resnet20']) {
      expect(r.fromUrl[name]).toEqual(fixtures.expected[name]);
      expect(r.fromIndexedDb[name]).toEqual(fixtures.expected[name]);
    }
    expect(r.liveBytes).toBe(0);
    // 'downloads://' offered the file; Node loads what was downloaded and predicts the same.
    expect(download!.name).toBe('cnn-download.kiln');
    const kiln = await import('../ts/index.node.js');
    await kiln.ready({ variant: 'simd' });
    const model = await kiln.load(download!.path);
    const out = await model.predict(new Float32Array(new Uint8Array(readFileSync(join(fixtures.dir, 'input.bin'))).buffer));
    expect(Array.from(await out.data())).toEqual(fixtures.expected.cnn);
    out.dispose();
    model.dispose();
  });

  it('not isolated: falls back to simd and says why', async () => {
    const r = await runPage(false);
    expect(r.worker.crossOriginIsolated).toBe(false);
    expect(r.worker.info.variant).toMatch(/^simd/);
    expect(r.worker.info.threads).toBe(1);
    expect(r.worker.info.reason).toContain('not cross-origin isolated');
    expect(r.worker.maxError).toBeLessThan(1e-4);
    expect(r.mainThread.maxError).toBeLessThan(1e-4);
  });

  it('examples/browser: loads a saved model by URL, classifies an uploaded CIFAR-10 test image, shows the top 3', async () => {
    const png = join(fixtures.dir, 'test-image.png');
    writeFileSync(png, cifarTestPng(3));
    const kiln = await import('../ts/index.node.js');
    await kiln.ready({ variant: 'simd' });
    const model = await kiln.load(join(fixtures.dir, 'cnn.kiln'));
    const [want] = await kiln.classify(model, [decodeImage(new Uint8Array(readFileSync(png)), png)], 3);
    model.dispose();

    const { server, url } = await serve(false, '../../examples/browser/index.html?model=/test/browser/.generated/cnn.kiln');
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
      expect(await page.textContent('#status')).toContain('input [32,32,3], 122,570 parameters');
      await page.setInputFiles('#file', png);
      await page.waitForFunction(() => document.body.dataset.state === 'classified', null, { timeout: 60_000 });
      const shown = (await page.$$eval('#results li', (items) => items.map((li) => li.textContent))) as string[];
      expect(shown.map((line) => line.replace(/ [0-9.]+ %$/, ''))).toEqual(want.map((c) => c.label));
      shown.forEach((line, i) => expect(Math.abs(Number(/([0-9.]+) %$/.exec(line)![1]) - want[i].probability * 100)).toBeLessThanOrEqual(0.1));
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      server.close();
    }
  });
});
