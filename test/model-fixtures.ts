/**
 * Model files for the cross-runtime tests: the seed CNN and ResNet-20, trained a step (so batch-norm statistics
 * are not their initial values), saved by Node on the simd build, with the predictions Node makes from them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import pngjs from 'pngjs';
import { join } from 'node:path';
import * as kiln from '../ts/index.node.js';
import { randomValues } from './helpers.js';

export const FIXTURE_MODELS = ['cnn', 'resnet20'] as const;
export const FIXTURE_IMAGES = 3;

export interface Fixtures {
  dir: string;
  /** Node's predictions per model, on `input.bin` (FIXTURE_IMAGES images 32×32×3). */
  expected: Record<string, number[]>;
}

export async function writeModelFixtures(dir: string): Promise<Fixtures> {
  mkdirSync(dir, { recursive: true });
  await kiln.ready({ variant: 'simd' });
  const x = Float32Array.from(randomValues(FIXTURE_IMAGES * 3072, 21), (v) => (v + 1) / 2);
  writeFileSync(join(dir, 'input.bin'), new Uint8Array(x.buffer));
  const expected: Record<string, number[]> = {};
  for (const name of FIXTURE_MODELS) {
    const model = name === 'cnn' ? kiln.cifar10Cnn({ seed: 7 }) : kiln.models.resnet20({ seed: 7 });
    model.compile({ optimizer: new kiln.Adam(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    await model.fit(randomValues(8 * 3072, 22), Int32Array.from({ length: 8 }, (_, i) => i), { epochs: 1, batchSize: 8 });
    await model.save(join(dir, `${name}.kiln`));
    const loaded = await kiln.load(join(dir, `${name}.kiln`));
    const out = await loaded.predict(x);
    expected[name] = Array.from(await out.data());
    for (const t of [out, model, loaded]) t.dispose();
  }
  return { dir, expected };
}

/** CIFAR-10 test image `index` as a PNG file's bytes (a synthetic pattern when the dataset is absent). */
export function cifarTestPng(index = 0): Uint8Array {
  const file = new URL('../../shared/data/cifar10/test_batch.bin.gz', import.meta.url).pathname;
  const png = new pngjs.PNG({ width: 32, height: 32 });
  const raw = existsSync(file) ? gunzipSync(readFileSync(file)).subarray(index * 3073 + 1, (index + 1) * 3073) : Uint8Array.from({ length: 3072 }, (_, i) => (i * 37 + index) % 256);
  for (let p = 0; p < 1024; p++) png.data.set([raw[p], raw[1024 + p], raw[2048 + p], 255], p * 4);
  return new Uint8Array(pngjs.PNG.sync.write(png));
}
