/**
 * Model files for the cross-runtime tests: the seed CNN and ResNet-20, trained a step (so batch-norm statistics
 * are not their initial values), saved by Node on the simd build, with the predictions Node makes from them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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
