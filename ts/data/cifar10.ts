/**
 * CIFAR-10 for Node: find (or download) the official binary version and read it as NHWC bytes; plus batching,
 * augmentation and a synthetic stand-in for machines without the data.
 */
import { mulberry32, shuffleInPlace } from '../random.js';
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { gunzipSync } from 'node:zlib';
import { ShapeError, ValueError, describe } from '../errors.js';
import { DataError } from './errors.js';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
import { CIFAR10_CLASS_NAMES } from './classes.js';
export { CIFAR10_CLASS_NAMES };
/** The synthetic classes: 5 colours × horizontal or vertical stripes. */
export const SYNTHETIC_CLASS_NAMES = ['red', 'green', 'blue', 'yellow', 'purple'].flatMap((c) => [`${c} horizontal`, `${c} vertical`]);

export const IMAGE_SIZE = 32;
export const CHANNELS = 3;
const PLANE = IMAGE_SIZE * IMAGE_SIZE;
/** Bytes of one image (either layout). */
export const IMAGE_BYTES = PLANE * CHANNELS;
const RECORD_BYTES = 1 + IMAGE_BYTES;
const NUM_CLASSES = 10;

const TARBALL = 'cifar-10-binary.tar.gz';
const BATCH_FOLDER = 'cifar-10-batches-bin';
const META_FILE = 'batches.meta.txt';
const TRAIN_BATCHES = [1, 2, 3, 4, 5].map((n) => `data_batch_${n}.bin`);
const TEST_BATCH = 'test_batch.bin';
const ALL_BATCHES = [...TRAIN_BATCHES, TEST_BATCH];

export interface ImageSet {
  /** count × 32 × 32 × 3 bytes, NHWC (RGB interleaved per pixel). */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface LoadCifar10Options {
  /** Looked in first; then $KILN_DATA_DIR, each also with a `cifar10/` subfolder; then `cacheDir`. */
  dir?: string;
  /** Download the official tarball into `cacheDir` when nothing is found (default true). */
  download?: boolean;
  /** Default `~/.cache/kiln`. */
  cacheDir?: string;
  /** Read only the first N training images (in file order); train batches beyond them are not read. */
  trainLimit?: number;
  testLimit?: number;
  /** Download progress in bytes; `total` is 0 when the server does not say. */
  onProgress?: (received: number, total: number) => void;
}

export interface Cifar10 {
  train: ImageSet;
  test: ImageSet;
  classNames: string[];
  /** Where the data was read from. */
  source: string;
}

/** The first `records` records of one batch, after checking the whole file's size. */
interface BatchBytes {
  file: string;
  bytes: Uint8Array;
  /** Records in the whole file. */
  records: number;
}

/** One place holding all six batches. */
interface BatchStore {
  source: string;
  read(batch: string, records: number): BatchBytes;
  metaText: string | undefined;
}

function countRecords(file: string, length: number): number {
  if (length === 0) throw new DataError(`${file}: the file is empty`);
  if (length % RECORD_BYTES !== 0) {
    throw new DataError(
      `${file}: size ${length} bytes is not a multiple of the ${RECORD_BYTES}-byte CIFAR-10 record (truncated or not a CIFAR-10 batch)`,
    );
  }
  return length / RECORD_BYTES;
}

function inMemoryBatch(file: string, bytes: Uint8Array, records: number): BatchBytes {
  const total = countRecords(file, bytes.length);
  return { file, bytes: bytes.subarray(0, Math.min(records, total) * RECORD_BYTES), records: total };
}

function gunzip(file: string, bytes: Uint8Array): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new DataError(`${file}: cannot decompress (truncated or corrupt gzip): ${(error as Error).message}`);
  }
}

/** Reads only the bytes needed: the file's size is checked, its tail is not read. */
function readFilePrefix(file: string, records: number): BatchBytes {
  const total = countRecords(file, statSync(file).size);
  const bytes = new Uint8Array(Math.min(records, total) * RECORD_BYTES);
  const fd = openSync(file, 'r');
  try {
    for (let filled = 0; filled < bytes.length; ) {
      const got = readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (got === 0) throw new DataError(`${file}: ended after ${filled} bytes while reading ${bytes.length}`);
      filled += got;
    }
  } finally {
    closeSync(fd);
  }
  return { file, bytes, records: total };
}

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();
const readMeta = (folder: string) => (isFile(join(folder, META_FILE)) ? readFileSync(join(folder, META_FILE), 'utf8') : undefined);

function tarField(header: Uint8Array, start: number, length: number): string {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

/** Regular files of a tar archive (ustar or GNU headers with octal sizes), by path. */
function readTar(file: string, tar: Uint8Array): Map<string, Uint8Array> {
  const entries = new Map<string, Uint8Array>();
  for (let offset = 0; ; ) {
    if (offset + 512 > tar.length) throw new DataError(`${file}: tar archive is truncated (no end-of-archive block)`);
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) return entries;
    const checksum = header.reduce((sum, b, i) => sum + (i >= 148 && i < 156 ? 0x20 : b), 0);
    const stored = parseInt(tarField(header, 148, 8).trim(), 8);
    if (checksum !== stored) throw new DataError(`${file}: corrupt tar header at byte ${offset} (checksum ${stored}, computed ${checksum})`);
    const sizeText = tarField(header, 124, 12).trim();
    if (!/^[0-7]+$/.test(sizeText)) throw new DataError(`${file}: unsupported tar size field '${sizeText}' at byte ${offset}`);
    const size = parseInt(sizeText, 8);
    const isPosix = tarField(header, 257, 6) === 'ustar';
    const prefix = isPosix ? tarField(header, 345, 155) : '';
    const name = prefix ? `${prefix}/${tarField(header, 0, 100)}` : tarField(header, 0, 100);
    const start = offset + 512;
    if (start + size > tar.length) throw new DataError(`${file}: tar archive is truncated inside '${name}'`);
    const type = String.fromCharCode(header[156]);
    if (type === '0' || type === '\0') entries.set(name, tar.subarray(start, start + size));
    offset = start + Math.ceil(size / 512) * 512;
  }
}

function tarballStore(tarball: string): BatchStore {
  const entries = readTar(tarball, gunzip(tarball, readFileSync(tarball)));
  const inFolder = (name: string) => [...entries].find(([path]) => path === `${BATCH_FOLDER}/${name}` || path.endsWith(`/${BATCH_FOLDER}/${name}`))?.[1];
  const missing = ALL_BATCHES.filter((name) => !inFolder(name));
  if (missing.length > 0) throw new DataError(`${tarball}: the archive lacks ${BATCH_FOLDER}/{${missing.join(',')}}`);
  const meta = inFolder(META_FILE);
  return {
    source: tarball,
    read: (batch, records) => inMemoryBatch(`${tarball}:${BATCH_FOLDER}/${batch}`, inFolder(batch)!, records),
    metaText: meta && new TextDecoder().decode(meta),
  };
}

/**
 * The batches in `dir` as a tarball, an extracted `cifar-10-batches-bin/`, or .bin / .bin.gz files in `dir` itself;
 * undefined when there are none. A set with some batches missing is an error, unless another set is complete.
 */
function findStore(dir: string): BatchStore | undefined {
  if (isFile(join(dir, TARBALL))) return tarballStore(join(dir, TARBALL));
  const incomplete: string[] = [];
  for (const folder of [join(dir, BATCH_FOLDER), dir]) {
    for (const suffix of ['', '.gz']) {
      const missing = ALL_BATCHES.filter((name) => !isFile(join(folder, name + suffix)));
      if (missing.length === ALL_BATCHES.length) continue;
      if (missing.length > 0) {
        incomplete.push(`${folder} lacks ${missing.map((name) => name + suffix).join(', ')}`);
        continue;
      }
      const path = (batch: string) => join(folder, batch + suffix);
      return {
        source: `${folder} (*.bin${suffix})`,
        read: suffix
          ? (batch, records) => inMemoryBatch(path(batch), gunzip(path(batch), readFileSync(path(batch))), records)
          : (batch, records) => readFilePrefix(path(batch), records),
        metaText: readMeta(folder),
      };
    }
  }
  if (incomplete.length > 0) throw new DataError(`CIFAR-10 batches are incomplete: ${incomplete.join('; ')}`);
  return undefined;
}

/** Label byte and CHW planes per record → labels and NHWC images. */
function decodeRecords(chunks: BatchBytes[]): ImageSet {
  const count = chunks.reduce((sum, chunk) => sum + chunk.bytes.length / RECORD_BYTES, 0);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const { file, bytes } of chunks) {
    for (let record = 0; record < bytes.length; record += RECORD_BYTES, n++) {
      const label = bytes[record];
      if (label >= NUM_CLASSES) {
        throw new DataError(`${file}: record ${record / RECORD_BYTES} has label ${label}, expected 0–${NUM_CLASSES - 1}`);
      }
      labels[n] = label;
      const out = n * IMAGE_BYTES;
      for (let c = 0; c < CHANNELS; c++) {
        const plane = record + 1 + c * PLANE;
        for (let p = 0; p < PLANE; p++) images[out + p * CHANNELS + c] = bytes[plane + p];
      }
    }
  }
  return { images, labels, count };
}

/** Reads batches in order until `limit` records (all when Infinity); a limit beyond the data is an error. */
function readSplit(store: BatchStore, batchNames: string[], limit: number, limitName: string): ImageSet {
  const chunks: BatchBytes[] = [];
  let available = 0;
  for (const name of batchNames) {
    if (available >= limit) break;
    const chunk = store.read(name, limit - available);
    chunks.push(chunk);
    available += chunk.records;
  }
  if (limit !== Infinity && available < limit) {
    throw new ValueError(`loadCifar10(): ${limitName} must be at most ${available} (the images in ${store.source}), got ${limit}`);
  }
  return decodeRecords(chunks);
}

function parseClassNames(store: BatchStore): string[] {
  if (store.metaText === undefined) return [...CIFAR10_CLASS_NAMES];
  const names = store.metaText.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  if (names.length !== NUM_CLASSES) {
    throw new DataError(`${store.source}: ${META_FILE} must list ${NUM_CLASSES} class names, got ${names.length}`);
  }
  return names;
}

function checkLimit(name: string, value: unknown): number {
  if (value === undefined) return Infinity;
  if (!Number.isInteger(value) || (value as number) < 0) {
    throw new ValueError(`loadCifar10(): ${name} must be a non-negative integer, got ${describe(value)}`);
  }
  return value as number;
}

/** Downloads `url` to `destination` (via `destination.part`), checking its MD5 before it takes the final name. */
export async function downloadFile(
  url: string,
  destination: string,
  options: { md5: string; onProgress?: (received: number, total: number) => void },
): Promise<void> {
  const partial = `${destination}.part`;
  const response = await fetch(url);
  if (!response.ok || response.body === null) throw new DataError(`${url}: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('content-length') ?? 0);
  const hash = createHash('md5');
  let received = 0;
  mkdirSync(dirname(destination), { recursive: true });
  try {
    await pipeline(
      Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>),
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          received += chunk.length;
          options.onProgress?.(received, total);
          yield chunk;
        }
      },
      createWriteStream(partial),
    );
    const md5 = hash.digest('hex');
    if (md5 !== options.md5) throw new DataError(`${url}: MD5 of the download is ${md5}, expected ${options.md5}`);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  renameSync(partial, destination);
}

/**
 * CIFAR-10 as NHWC bytes. Looks in `dir`, $KILN_DATA_DIR (and their `cifar10/` subfolders) and `cacheDir` for the
 * official tarball, its extracted folder, or the batches as .bin or .bin.gz; else downloads the tarball into
 * `cacheDir` unless `download: false`. Throws DataError when the data is missing, incomplete or corrupt.
 */
export async function loadCifar10(options: LoadCifar10Options = {}): Promise<Cifar10> {
  const trainLimit = checkLimit('trainLimit', options.trainLimit);
  const testLimit = checkLimit('testLimit', options.testLimit);
  const cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'kiln');
  const roots = [options.dir, process.env.KILN_DATA_DIR].filter((dir): dir is string => !!dir);
  const searched = [...roots.flatMap((dir) => [dir, join(dir, 'cifar10')]), cacheDir];
  const load = (store: BatchStore): Cifar10 => ({
    train: readSplit(store, TRAIN_BATCHES, trainLimit, 'trainLimit'),
    test: readSplit(store, [TEST_BATCH], testLimit, 'testLimit'),
    classNames: parseClassNames(store),
    source: store.source,
  });
  for (const dir of searched) {
    const store = findStore(dir);
    if (store) return load(store);
  }
  const notFound =
    `loadCifar10(): CIFAR-10 not found in ${searched.join(', ')}. Put ${TARBALL} (from ${CIFAR10_URL}), ` +
    `its extracted ${BATCH_FOLDER}/ folder, or the batches as data_batch_{1..5}.bin[.gz] and test_batch.bin[.gz] ` +
    `into one of them (pass { dir } or set KILN_DATA_DIR)`;
  if (options.download === false) throw new DataError(`${notFound}; downloading is off (download: false)`);
  const tarball = join(cacheDir, TARBALL);
  try {
    await downloadFile(CIFAR10_URL, tarball, { md5: CIFAR10_MD5, onProgress: options.onProgress });
  } catch (error) {
    throw new DataError(`${notFound}; downloading it failed: ${(error as Error).message}`);
  }
  return load(tarballStore(tarball));
}

/** Bytes → floats in [0, 1], into `out` from `offset` when given (a batch being assembled), else a new array. */
export function normalizeImages(images: Uint8Array, out?: Float32Array, offset = 0): Float32Array {
  const op = 'normalizeImages()';
  if (!(images instanceof Uint8Array)) throw new ValueError(`${op}: images must be a Uint8Array, got ${describe(images)}`);
  const target = out ?? new Float32Array(images.length);
  if (!(target instanceof Float32Array)) throw new ValueError(`${op}: out must be a Float32Array, got ${describe(out)}`);
  if (!(Number.isInteger(offset) && offset >= 0 && offset + images.length <= target.length)) {
    throw new ShapeError(`${op}: ${images.length} values do not fit out (length ${target.length}) at offset ${describe(offset)}`);
  }
  // A native byte-to-float copy, then one division each (exactly `byte / 255` in float32).
  target.set(images, offset);
  for (let i = offset; i < offset + images.length; i++) target[i] /= 255;
  return target;
}

function checkSeed(op: string, seed: unknown): number {
  if (!Number.isInteger(seed) || (seed as number) < 0 || (seed as number) >= 2 ** 32) {
    throw new ValueError(`${op}: seed must be an integer in [0, 2^32), got ${describe(seed)}`);
  }
  return seed as number;
}


/**
 * Index arrays of `batchSize` covering 0…count-1 once (the last one shorter when count does not divide);
 * with `shuffle`, in a seeded random order — pass a different seed each epoch.
 */
export function* batches(
  set: { count: number },
  batchSize: number,
  options: { shuffle?: boolean; seed?: number } = {},
): Generator<Int32Array> {
  const op = 'batches()';
  if (!Number.isInteger(set?.count) || set.count < 0) throw new ValueError(`${op}: set.count must be a non-negative integer, got ${describe(set?.count)}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValueError(`${op}: batchSize must be a positive integer, got ${describe(batchSize)}`);
  const order = Int32Array.from({ length: set.count }, (_, i) => i);
  if (options.shuffle) shuffleInPlace(order, mulberry32(checkSeed(op, options.seed ?? 0)));
  for (let start = 0; start < order.length; start += batchSize) yield order.slice(start, start + batchSize);
}

/**
 * A new batch where each NHWC 32×32×3 image is cropped at a random offset in [-cropPadding, cropPadding] (zeros
 * outside the image) and, with `flip`, mirrored left–right with probability ½; the same seed gives the same result.
 * Works on floats or on bytes (returning the same kind).
 */
export function augmentBatch<Images extends Float32Array | Uint8Array>(
  images: Images,
  count: number,
  options: { cropPadding?: number; flip?: boolean; seed: number },
): Images {
  const op = 'augmentBatch()';
  const { cropPadding = 4, flip = true } = options;
  if (!(images instanceof Float32Array || images instanceof Uint8Array)) {
    throw new ValueError(`${op}: images must be a Float32Array or Uint8Array, got ${describe(images)}`);
  }
  if (!Number.isInteger(count) || count < 0) throw new ValueError(`${op}: count must be a non-negative integer, got ${describe(count)}`);
  if (images.length !== count * IMAGE_BYTES) {
    throw new ShapeError(`${op}: images must hold count × 32 × 32 × 3 = ${count * IMAGE_BYTES} values, got ${images.length}`);
  }
  if (!Number.isInteger(cropPadding) || cropPadding < 0 || cropPadding >= IMAGE_SIZE) {
    throw new ValueError(`${op}: cropPadding must be an integer in [0, ${IMAGE_SIZE}), got ${describe(cropPadding)}`);
  }
  const random = mulberry32(checkSeed(op, options.seed));
  const out = (images instanceof Uint8Array ? new Uint8Array(images.length) : new Float32Array(images.length)) as Images;
  for (let n = 0; n < count; n++) {
    const dx = Math.floor(random() * (2 * cropPadding + 1)) - cropPadding;
    const dy = Math.floor(random() * (2 * cropPadding + 1)) - cropPadding;
    const mirrored = random() < 0.5 && flip;
    const base = n * IMAGE_BYTES;
    for (let y = 0; y < IMAGE_SIZE; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= IMAGE_SIZE) continue;
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const sx = (mirrored ? IMAGE_SIZE - 1 - x : x) + dx;
        if (sx < 0 || sx >= IMAGE_SIZE) continue;
        const from = base + (sy * IMAGE_SIZE + sx) * CHANNELS;
        const to = base + (y * IMAGE_SIZE + x) * CHANNELS;
        for (let c = 0; c < CHANNELS; c++) out[to + c] = images[from + c];
      }
    }
  }
  return out;
}

const SYNTHETIC_COLORS = [
  [220, 40, 40],
  [40, 200, 60],
  [50, 80, 230],
  [230, 210, 40],
  [170, 50, 200],
];

/**
 * `count` NHWC images in 10 balanced classes (SYNTHETIC_CLASS_NAMES): class c has colour c/2 and horizontal (even c)
 * or vertical (odd c) stripes, with random stripe phase, brightness and pixel noise, so a model must learn both cues.
 */
export function syntheticCifarLike(count: number, seed: number): ImageSet {
  const op = 'syntheticCifarLike()';
  if (!Number.isInteger(count) || count < 0) throw new ValueError(`${op}: count must be a non-negative integer, got ${describe(count)}`);
  const random = mulberry32(checkSeed(op, seed));
  const labels = Uint8Array.from({ length: count }, (_, i) => i % NUM_CLASSES);
  shuffleInPlace(labels, random);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const period = 8;
  for (let n = 0; n < count; n++) {
    const color = SYNTHETIC_COLORS[labels[n] >> 1];
    const vertical = labels[n] % 2 === 1;
    const phase = random() * period;
    const brightness = 0.8 + 0.4 * random();
    for (let y = 0; y < IMAGE_SIZE; y++) {
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const stripe = 0.5 + 0.5 * Math.sin((2 * Math.PI * ((vertical ? x : y) + phase)) / period);
        const at = (n * PLANE + y * IMAGE_SIZE + x) * CHANNELS;
        for (let c = 0; c < CHANNELS; c++) {
          const value = color[c] * (0.45 + 0.55 * stripe) * brightness + (random() - 0.5) * 64;
          images[at + c] = Math.max(0, Math.min(255, Math.round(value))); // pixel bytes saturate
        }
      }
    }
  }
  return { images, labels, count };
}
