import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CIFAR10_CLASS_NAMES,
  augmentBatch,
  batches,
  downloadFile,
  loadCifar10,
  normalizeImages,
  syntheticCifarLike,
  type ImageSet,
} from '../ts/data/cifar10.js';
import { DataError } from '../ts/data/errors.js';
import { ShapeError, ValueError } from '../ts/errors.js';

const RECORDS = 5; // per fixture batch
const TRAIN_NAMES = [1, 2, 3, 4, 5].map((n) => `data_batch_${n}.bin`);
const META = 'plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n';
const root = mkdtempSync(join(tmpdir(), 'kiln-cifar-'));
let dirCount = 0;
const freshDir = () => {
  const dir = join(root, `d${dirCount++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const emptyCache = freshDir();

afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => vi.stubEnv('KILN_DATA_DIR', ''));
afterEach(() => vi.unstubAllEnvs());

/** The byte of image `n`, channel `c`, pixel `p` (= y·32 + x) in the fixtures. */
const pixel = (n: number, c: number, p: number) => (n * 7 + c * 50 + p) % 256;
const trainLabel = (n: number) => (n * 3) % 10;
const testLabel = (n: number) => (n + 4) % 10;

/** A CIFAR-10 batch in the file layout: label byte, then the R, G and B planes. */
function batchBytes(firstImage: number, labelOf: (n: number) => number): Uint8Array {
  const bytes = new Uint8Array(RECORDS * 3073);
  for (let r = 0; r < RECORDS; r++) {
    const n = firstImage + r;
    bytes[r * 3073] = labelOf(n);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) bytes[r * 3073 + 1 + c * 1024 + p] = pixel(n, c, p);
  }
  return bytes;
}

function fixtureFiles(): Map<string, Uint8Array> {
  const files = new Map(TRAIN_NAMES.map((name, b) => [name, batchBytes(b * RECORDS, trainLabel)]));
  files.set('test_batch.bin', batchBytes(1000, (n) => testLabel(n - 1000)));
  return files;
}

function tarEntry(name: string, data: Uint8Array, type = '0'): Uint8Array {
  const header = new Uint8Array(512);
  const put = (text: string, at: number) => header.set(new TextEncoder().encode(text), at);
  put(name, 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  put('00000000000\0', 136);
  put('        ', 148);
  put(type, 156);
  put('ustar\0', 257);
  put('00', 263);
  put(`${header.reduce((a, b) => a + b, 0).toString(8).padStart(6, '0')}\0 `, 148);
  const entry = new Uint8Array(512 + Math.ceil(data.length / 512) * 512);
  entry.set(header);
  entry.set(data, 512);
  return entry;
}

function tarOf(files: Map<string, Uint8Array>): Uint8Array {
  const parts = [tarEntry('cifar-10-batches-bin/', new Uint8Array(0), '5')];
  for (const [name, data] of files) parts.push(tarEntry(`cifar-10-batches-bin/${name}`, data));
  parts.push(tarEntry('cifar-10-batches-bin/batches.meta.txt', new TextEncoder().encode(META)), new Uint8Array(1024));
  return Buffer.concat(parts);
}

function writeFiles(dir: string, files: Map<string, Uint8Array>, gzip = false): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of files) writeFileSync(join(dir, gzip ? `${name}.gz` : name), gzip ? gzipSync(data) : data);
  return dir;
}

function expectFixtureImages(set: ImageSet, firstImage: number, labelOf: (n: number) => number, count: number) {
  expect(set.count).toBe(count);
  expect(set.images.length).toBe(count * 3072);
  expect(Array.from(set.labels)).toEqual(Array.from({ length: count }, (_, i) => labelOf(i)));
  // NHWC: image n, row y, column x, channel c sits at ((n·32 + y)·32 + x)·3 + c.
  for (const [n, y, x, c] of [[0, 0, 0, 0], [count - 1, 3, 5, 1], [Math.min(2, count - 1), 31, 30, 2]]) {
    expect(set.images[((n * 32 + y) * 32 + x) * 3 + c]).toBe(pixel(firstImage + n, c, y * 32 + x));
  }
}

/** Byte equality; vitest's deep equality is slow on arrays of this size. */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const load = (dir: string, extra: object = {}) => loadCifar10({ dir, download: false, cacheDir: emptyCache, ...extra });

describe('loadCifar10 layouts', () => {
  it('reads the official tarball layout (cifar-10-binary.tar.gz) and its class names', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'cifar-10-binary.tar.gz'), gzipSync(tarOf(fixtureFiles())));
    const data = await load(dir);
    expectFixtureImages(data.train, 0, trainLabel, 5 * RECORDS);
    expectFixtureImages(data.test, 1000, testLabel, RECORDS);
    expect(data.classNames).toEqual(META.trim().split('\n'));
    expect(data.source).toBe(join(dir, 'cifar-10-binary.tar.gz'));
  });

  it('reads an extracted cifar-10-batches-bin/ folder and .bin files in the directory itself', async () => {
    const parent = freshDir();
    writeFiles(join(parent, 'cifar-10-batches-bin'), fixtureFiles());
    const fromFolder = await load(parent);
    expectFixtureImages(fromFolder.train, 0, trainLabel, 5 * RECORDS);
    expect(fromFolder.source).toContain('cifar-10-batches-bin');
    expect(fromFolder.classNames).toEqual(CIFAR10_CLASS_NAMES);
    const flat = writeFiles(freshDir(), fixtureFiles());
    expectFixtureImages((await load(flat)).test, 1000, testLabel, RECORDS);
  });

  it('reads gzipped batches, also from a cifar10/ subfolder of KILN_DATA_DIR', async () => {
    const parent = freshDir();
    const dir = writeFiles(join(parent, 'cifar10'), fixtureFiles(), true);
    writeFileSync(join(dir, 'batches.meta.txt'), META);
    vi.stubEnv('KILN_DATA_DIR', parent);
    const data = await loadCifar10({ download: false, cacheDir: emptyCache });
    expect(data.source).toBe(`${dir} (*.bin.gz)`);
    expectFixtureImages(data.train, 0, trainLabel, 5 * RECORDS);
    expectFixtureImages(data.test, 1000, testLabel, RECORDS);
    expect(data.classNames[0]).toBe('plane');
  });
});

describe('loadCifar10 limits', () => {
  it('reads only the train batches the limit needs', async () => {
    const files = fixtureFiles();
    files.set('data_batch_3.bin', new Uint8Array(100)); // corrupt, but beyond trainLimit 7
    const dir = writeFiles(freshDir(), files);
    const data = await load(dir, { trainLimit: 7, testLimit: 2 });
    expectFixtureImages(data.train, 0, trainLabel, 7);
    expectFixtureImages(data.test, 1000, testLabel, 2);
    await expect(load(dir)).rejects.toThrow(/data_batch_3\.bin: size 100 bytes is not a multiple of the 3073-byte/);
  });

  it('allows 0 and rejects limits beyond the data or not integers', async () => {
    const dir = writeFiles(freshDir(), fixtureFiles(), true);
    const data = await load(dir, { trainLimit: 0, testLimit: 0 });
    expect([data.train.count, data.test.count, data.train.images.length]).toEqual([0, 0, 0]);
    await expect(load(dir, { trainLimit: 26 })).rejects.toThrow('trainLimit must be at most 25');
    await expect(load(dir, { testLimit: 6 })).rejects.toThrow(ValueError);
    await expect(load(dir, { testLimit: 1.5 })).rejects.toThrow('testLimit must be a non-negative integer, got number 1.5');
  });
});

describe('loadCifar10 errors', () => {
  it('rejects a label above 9, naming the file and record', async () => {
    const files = fixtureFiles();
    files.get('test_batch.bin')![3 * 3073] = 10;
    const dir = writeFiles(freshDir(), files);
    await expect(load(dir)).rejects.toThrow(DataError);
    await expect(load(dir)).rejects.toThrow(/test_batch\.bin: record 3 has label 10, expected 0–9/);
  });

  it('rejects a truncated gzip batch and an incomplete set of batches', async () => {
    const dir = writeFiles(freshDir(), fixtureFiles(), true);
    const whole = readFileSync(join(dir, 'data_batch_2.bin.gz'));
    writeFileSync(join(dir, 'data_batch_2.bin.gz'), whole.subarray(0, whole.length - 20));
    await expect(load(dir)).rejects.toThrow(/data_batch_2\.bin\.gz: cannot decompress \(truncated or corrupt gzip\)/);
    rmSync(join(dir, 'data_batch_2.bin.gz'));
    await expect(load(dir)).rejects.toThrow(/lacks data_batch_2\.bin\.gz/);
  });

  it('rejects a truncated tarball, gzip or tar', async () => {
    const tar = tarOf(fixtureFiles());
    const gzipCut = freshDir();
    const gz = gzipSync(tar);
    writeFileSync(join(gzipCut, 'cifar-10-binary.tar.gz'), gz.subarray(0, gz.length >> 1));
    await expect(load(gzipCut)).rejects.toThrow(/cifar-10-binary\.tar\.gz: cannot decompress/);
    const tarCut = freshDir();
    writeFileSync(join(tarCut, 'cifar-10-binary.tar.gz'), gzipSync(tar.subarray(0, 512 + 512 + 5000)));
    await expect(load(tarCut)).rejects.toThrow(/tar archive is truncated inside 'cifar-10-batches-bin\/data_batch_1\.bin'/);
    const corrupt = freshDir();
    const flipped = Uint8Array.from(tar);
    flipped[512 + 10] ^= 1; // a byte of data_batch_1.bin's header name
    writeFileSync(join(corrupt, 'cifar-10-binary.tar.gz'), gzipSync(flipped));
    await expect(load(corrupt)).rejects.toThrow(/corrupt tar header at byte 512/);
  });

  it('says where it looked and how to provide the data when nothing is found and download is off', async () => {
    const dir = freshDir();
    const error = await load(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataError);
    const message = (error as Error).message;
    for (const place of [dir, join(dir, 'cifar10'), emptyCache, 'cifar-10-binary.tar.gz', 'KILN_DATA_DIR', 'download: false']) {
      expect(message).toContain(place);
    }
  });
});

describe('downloadFile (local HTTP server)', () => {
  const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) % 251));
  const md5 = createHash('md5').update(body).digest('hex');

  async function withServer(run: (url: string) => Promise<void>) {
    const server = createServer((_, response) => {
      response.writeHead(200, { 'content-length': body.length });
      response.write(body.subarray(0, 40_000));
      setTimeout(() => response.end(body.subarray(40_000)), 10);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/file`);
    } finally {
      server.close();
    }
  }

  it('writes the file after checking its MD5 and reports progress up to the total', async () => {
    const dir = freshDir();
    const progress: [number, number][] = [];
    await withServer((url) => downloadFile(url, join(dir, 'sub', 'x.bin'), { md5, onProgress: (r, t) => progress.push([r, t]) }));
    expect(readFileSync(join(dir, 'sub', 'x.bin')).equals(body)).toBe(true);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual([body.length, body.length]);
    expect(progress.every(([r], i) => i === 0 || r > progress[i - 1][0])).toBe(true);
  });

  it('keeps nothing when the MD5 differs', async () => {
    const dir = freshDir();
    const wrong = '0'.repeat(32);
    await withServer((url) => expect(downloadFile(url, join(dir, 'x.bin'), { md5: wrong })).rejects.toThrow(`MD5 of the download is ${md5}, expected ${wrong}`));
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('real CIFAR-10 (shared data)', () => {
  const shared = '/work/shared/data/cifar10';
  it.runIf(existsSync(join(shared, 'test_batch.bin.gz')))('reads the first 100 test images and 1 train image with known values', async () => {
    const data = await loadCifar10({ dir: shared, download: false, cacheDir: emptyCache, trainLimit: 1, testLimit: 100 });
    expect(data.test.count).toBe(100);
    expect(data.test.labels.every((label) => label <= 9)).toBe(true);
    expect(Array.from(data.test.labels.subarray(0, 10))).toEqual([3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    // Red channel of the first pixels (NHWC stride 3), as printed from the official pickles.
    expect([0, 1, 2].map((x) => data.test.images[x * 3])).toEqual([158, 159, 165]);
    expect([0, 1, 2].map((x) => data.train.images[x * 3])).toEqual([59, 43, 50]);
    expect(data.train.labels[0]).toBe(6);
    expect(data.classNames).toEqual(CIFAR10_CLASS_NAMES);
  });
});

describe('normalizeImages and batches', () => {
  it('divides by 255, into a new array or into a batch at an offset', () => {
    expect(Array.from(normalizeImages(new Uint8Array([0, 51, 255])))).toEqual([0, Math.fround(0.2), 1]);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(normalizeImages(bytes))).toEqual(Array.from(bytes, (v) => Math.fround(v / 255)));
    const batch = new Float32Array(7).fill(-1);
    expect(normalizeImages(new Uint8Array([255, 51]), batch, 4)).toBe(batch);
    expect(Array.from(batch)).toEqual([-1, -1, -1, -1, 1, Math.fround(0.2), -1]);
    expect(() => normalizeImages(new Uint8Array(4), batch, 4)).toThrow('4 values do not fit out (length 7) at offset number 4');
    expect(() => normalizeImages(new Uint8Array(1), batch, 1.5)).toThrow(ShapeError);
    expect(() => normalizeImages(new Uint8Array(1), new Int32Array(2) as unknown as Float32Array)).toThrow('out must be a Float32Array');
  });

  it('covers every index once, in order or in a seeded shuffle', () => {
    const plain = [...batches({ count: 10 }, 4)];
    expect(plain.map((b) => Array.from(b))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    const shuffled = (seed: number) => [...batches({ count: 100 }, 32, { shuffle: true, seed })].flatMap((b) => Array.from(b));
    const a = shuffled(1);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(shuffled(1)).toEqual(a);
    expect(shuffled(2)).not.toEqual(a);
    expect(() => batches({ count: 10 }, 0).next()).toThrow('batchSize must be a positive integer');
    expect(() => batches({ count: 10 }, 2, { shuffle: true, seed: -1 }).next()).toThrow('seed must be an integer');
  });
});

describe('augmentBatch', () => {
  // Each pixel stores its own coordinates: R = x, G = y, B = 1 marks "from the image" (padding gives 0).
  const count = 32;
  const images = new Float32Array(count * 3072);
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < 1024; p++) images.set([p % 32, Math.floor(p / 32), 1], (n * 1024 + p) * 3);
  }

  it('is a shift within ±cropPadding with zero fill, optionally mirrored, per image', () => {
    const out = augmentBatch(images, count, { cropPadding: 4, seed: 3 });
    const seen = { mirrored: 0, shifts: new Set<number>() };
    for (let n = 0; n < count; n++) {
      const at = (y: number, x: number) => out.subarray((n * 1024 + y * 32 + x) * 3, (n * 1024 + y * 32 + x) * 3 + 3);
      // The centre pixel always comes from the image when |shift| ≤ 4; it fixes the shift and the mirroring.
      const [sx0, sy0] = at(16, 16);
      const [sx1] = at(16, 17);
      const mirrored = sx1 === sx0 - 1;
      const dx = mirrored ? sx0 - 15 : sx0 - 16;
      const dy = sy0 - 16;
      expect(Math.abs(dx)).toBeLessThanOrEqual(4);
      expect(Math.abs(dy)).toBeLessThanOrEqual(4);
      let fromImage = 0;
      const wrong: string[] = [];
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const sx = (mirrored ? 31 - x : x) + dx;
          const sy = y + dy;
          const inside = sx >= 0 && sx < 32 && sy >= 0 && sy < 32;
          const want = inside ? [sx, sy, 1] : [0, 0, 0];
          if (want.some((v, c) => at(y, x)[c] !== v)) wrong.push(`image ${n} (${y},${x}): ${Array.from(at(y, x))} vs ${want}`);
          fromImage += inside ? 1 : 0;
        }
      }
      expect(wrong.slice(0, 3)).toEqual([]);
      expect(fromImage).toBe((32 - Math.abs(dx)) * (32 - Math.abs(dy)));
      seen.mirrored += mirrored ? 1 : 0;
      seen.shifts.add(dx);
    }
    expect(seen.mirrored).toBeGreaterThan(6);
    expect(seen.mirrored).toBeLessThan(26);
    expect(seen.shifts.size).toBeGreaterThan(5);
  });

  it('augments bytes exactly as it augments the same values as floats', () => {
    const bytes = Uint8Array.from(images, (v, i) => (v * 7 + i) % 256);
    const out = augmentBatch(bytes, count, { seed: 5 });
    expect(out).toBeInstanceOf(Uint8Array);
    expect(Array.from(out)).toEqual(Array.from(augmentBatch(Float32Array.from(bytes), count, { seed: 5 })));
  });

  it('is deterministic per seed, the identity with no padding and no flip, and checks its input', () => {
    expect(sameBytes(augmentBatch(images, count, { seed: 9 }), augmentBatch(images, count, { seed: 9 }))).toBe(true);
    expect(sameBytes(augmentBatch(images, count, { seed: 9 }), augmentBatch(images, count, { seed: 10 }))).toBe(false);
    expect(sameBytes(augmentBatch(images, count, { cropPadding: 0, flip: false, seed: 1 }), images)).toBe(true);
    expect(() => augmentBatch(images, count + 1, { seed: 1 })).toThrow(ShapeError);
    expect(() => augmentBatch(images, count, { cropPadding: 32, seed: 1 })).toThrow('cropPadding must be an integer in [0, 32)');
  });
});

describe('syntheticCifarLike', () => {
  /** Mean R, G, B and (vertical − horizontal neighbour difference) / sum: colour and stripe direction. */
  function features(set: ImageSet, n: number): number[] {
    const px = (y: number, x: number, c: number) => set.images[((n * 32 + y) * 32 + x) * 3 + c];
    const means = [0, 0, 0];
    let horizontal = 0;
    let vertical = 0;
    for (let y = 0; y < 31; y++) {
      for (let x = 0; x < 31; x++) {
        for (let c = 0; c < 3; c++) {
          means[c] += px(y, x, c) / (31 * 31 * 255);
          horizontal += Math.abs(px(y, x + 1, c) - px(y, x, c));
          vertical += Math.abs(px(y + 1, x, c) - px(y, x, c));
        }
      }
    }
    return [...means, (vertical - horizontal) / (vertical + horizontal)];
  }

  it('is deterministic, balanced, and separable by a nearest-centroid classifier on colour and stripe direction', () => {
    const train = syntheticCifarLike(300, 1);
    expect(train.images.length).toBe(300 * 3072);
    const again = syntheticCifarLike(300, 1);
    expect(sameBytes(again.images, train.images) && sameBytes(again.labels, train.labels)).toBe(true);
    expect(sameBytes(syntheticCifarLike(300, 2).images, train.images)).toBe(false);
    expect(Array.from({ length: 10 }, (_, c) => train.labels.filter((l) => l === c).length)).toEqual(new Array(10).fill(30));
    const centroids = Array.from({ length: 10 }, () => [0, 0, 0, 0]);
    for (let n = 0; n < train.count; n++) features(train, n).forEach((f, k) => (centroids[train.labels[n]][k] += f / 30));
    const test = syntheticCifarLike(200, 7);
    let correct = 0;
    for (let n = 0; n < test.count; n++) {
      const f = features(test, n);
      const distances = centroids.map((c) => c.reduce((sum, v, k) => sum + (v - f[k]) ** 2, 0));
      correct += distances.indexOf(Math.min(...distances)) === test.labels[n] ? 1 : 0;
    }
    expect(correct / test.count).toBeGreaterThan(0.95);
  });
});
