/** Checkpoints: an interrupted run resumed from its checkpoint ends with exactly the weights of an uninterrupted one. */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as kiln from '../ts/index.node.js';
import { randomValues } from './helpers.js';

const { layers } = kiln;
const dir = mkdtempSync(join(tmpdir(), 'kiln-checkpoint-'));

function make() {
  const model = kiln.sequential(
    [layers.conv2d(4, 3, { activation: 'relu' }), layers.batchNormalization(), layers.flatten(), layers.dropout(0.3), layers.dense(3)],
    { inputShape: [6, 6, 2], seed: 5 },
  );
  model.compile({ optimizer: new kiln.Adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy', 'f1'] });
  return model;
}

async function digest(model: kiln.Model): Promise<string> {
  const hash = createHash('sha256');
  for (const l of model.layers) for (const t of [...l.weights, ...l.state]) hash.update(new Uint8Array(((await t.data()) as Float32Array).buffer));
  return hash.digest('hex');
}

const x = randomValues(100 * 72, 3);
const y = Int32Array.from({ length: 100 }, (_, i) => (x[i * 72] > 0 ? 1 : x[i * 72 + 1] > 0 ? 2 : 0));
const options = { epochs: 3, batchSize: 16, validationData: [x.subarray(0, 20 * 72), y.subarray(0, 20)] as [Float32Array, Int32Array] };

describe('checkpoints', () => {
  beforeAll(async () => {
    await kiln.ready({ variant: 'simd' });
  });

  for (const stopAt of [5, 7, 14]) {
    it(`stopped after batch ${stopAt} and resumed: the same weights, optimizer state and history`, async () => {
      const whole = make();
      const wantHistory = await whole.fit(x, y, options);
      const want = await digest(whole);

      const path = join(dir, `run-${stopAt}.ckpt`);
      const first = make();
      const controller = new AbortController();
      let batches = 0;
      await first.fit(x, y, { ...options, signal: controller.signal, callbacks: [kiln.modelCheckpoint(path, { everyBatches: 1 }), { onBatchEnd: () => void (++batches === stopAt && controller.abort()) }] });
      first.dispose();

      const second = make(); // a fresh process would build the same model, then restore
      const resume = await kiln.restoreCheckpoint(second, path);
      expect(resume.epoch * 7 + resume.step).toBe(stopAt);
      const history = await second.fit(x, y, { ...options, resume });
      expect(await digest(second)).toBe(want);
      expect(history.history).toEqual(wantHistory.history);
      for (const m of [whole, second]) m.dispose();
    });
  }

  it('refuses a checkpoint from another model, and a corrupted one, changing nothing', async () => {
    const model = make();
    await model.fit(x, y, { epochs: 1 });
    const path = join(dir, 'a.ckpt');
    await kiln.saveCheckpoint(model, path);
    const other = kiln.sequential([layers.flatten(), layers.dense(3)], { inputShape: [6, 6, 2] });
    other.compile({ loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    await expect(kiln.restoreCheckpoint(other, path)).rejects.toThrow(/saved from a model with other layers/);
    const bytes = await kiln.checkpointBytes(model);
    bytes[bytes.length - 1] ^= 1;
    const fresh = make();
    const before = await digest(fresh);
    await expect(kiln.restoreCheckpoint(fresh, bytes)).rejects.toThrow(kiln.ModelFormatError);
    expect(await digest(fresh)).toBe(before);
    for (const m of [model, other, fresh]) m.dispose();
  });
});
