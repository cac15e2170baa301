import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { randomValues } from './helpers.js';

const { layers } = kiln;

/** Two Gaussian-ish blobs in 4-D, labelled by which side of a plane they fall. */
function blobs(count: number, seed: number) {
  const x = randomValues(count * 4, seed);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) y[i] = x[i * 4] + 0.5 * x[i * 4 + 1] - 0.3 * x[i * 4 + 2] > 0 ? 1 : 0;
  return { x, y };
}

describe('Sequential on the reference backend', () => {
  beforeAll(async () => {
    await kiln.ready({ backend: 'reference' });
  });

  it('summary of the seed CNN: output shapes and 122,570 parameters', async () => {
    const model = kiln.cifar10Cnn();
    expect(model.parameterCount).toBe(122_570);
    const summary = model.summary();
    expect(summary).toContain('(None, 30, 30, 32)');
    expect(summary).toContain('(None, 4, 4, 64)');
    expect(summary).toContain('(None, 1024)');
    expect(summary).toContain('Total params: 122,570');
    model.dispose();
  });

  it('runs a convolution and the max pooling after it as one fused kernel, with the same predictions', async () => {
    const model = kiln.sequential(
      [layers.conv2d(4, 3, { activation: 'relu' }), layers.maxPooling2d({ poolSize: 2 }), layers.conv2d(3, 2), layers.maxPooling2d({ poolSize: 2, strides: 1 }), layers.flatten()],
      { inputShape: [9, 8, 2], seed: 5 },
    );
    const x = kiln.tensor(randomValues(3 * 9 * 8 * 2, 9), [3, 9, 8, 2]);
    const fused = model.call(x);
    // Layer by layer: nothing fused (the second pooling overlaps, so the model cannot fuse it either).
    const unfused = kiln.scope(() => model.layers.reduce((h, layer) => layer.call(h, false), x));
    expect(fused.shape).toEqual([3, 3]);
    expect(Array.from(fused.dataSync())).toEqual(Array.from(unfused.dataSync()));
    for (const t of [x, fused, unfused]) t.dispose();
    model.dispose();
  });

  it('learns a separable problem with Adam, reports history, evaluates and predicts', async () => {
    const model = kiln.sequential([layers.dense(8, { activation: 'relu' }), layers.dense(2)], { inputShape: [4], seed: 3 });
    model.compile({ optimizer: new kiln.Adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
    const train = blobs(256, 1);
    const seen: number[] = [];
    const history = await model.fit(train.x, train.y, { epochs: 15, batchSize: 32, validationSplit: 0.25, callbacks: [{ onEpochEnd: (e) => seen.push(e) }] });
    expect(seen).toEqual([...Array(15).keys()]);
    const losses = history.history.loss;
    expect(losses.at(-1)!).toBeLessThan(losses[0] * 0.5);
    expect(history.history.val_accuracy.at(-1)!).toBeGreaterThan(0.9);
    const test = blobs(200, 2);
    expect((await model.evaluate(test.x, test.y)).accuracy).toBeGreaterThan(0.9);
    const out = await model.predict(test.x.subarray(0, 5 * 4));
    expect(out.shape).toEqual([5, 2]);
    out.dispose();
    model.dispose();
  });

  it('validates in batches of validationBatchSize: same values as evaluate(), training untouched', async () => {
    const run = async (validationBatchSize?: number) => {
      const model = kiln.sequential([layers.dense(8, { activation: 'relu' }), layers.dense(2)], { inputShape: [4], seed: 3 });
      model.compile({ optimizer: new kiln.Adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
      const train = blobs(96, 1);
      const held = blobs(50, 2);
      const { history } = await model.fit(train.x, train.y, { epochs: 2, batchSize: 16, validationData: [held.x, held.y], validationBatchSize });
      const evaluated = await model.evaluate(held.x, held.y, { batchSize: 50 });
      model.dispose();
      return { history, evaluated };
    };
    const small = await run();
    const large = await run(50);
    expect(large.history.loss).toEqual(small.history.loss);
    expect(large.history.val_accuracy).toEqual(small.history.val_accuracy);
    expect(large.history.val_loss.at(-1)!).toBeCloseTo(small.history.val_loss.at(-1)!, 5);
    expect(large.history.val_loss.at(-1)!).toBe(large.evaluated.loss);
    // Batches of 7, 7 and 6 (the arrays behind them are refilled, and remade when the size changes) give the
    // same result as one batch of all 20.
    const held = blobs(20, 5);
    const model20 = kiln.sequential([layers.dense(3, { activation: 'relu' }), layers.dense(2)], { inputShape: [4], seed: 9 });
    model20.compile({ optimizer: new kiln.SGD(), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
    const whole = await model20.evaluate(held.x, held.y, { batchSize: 20 });
    const pieces = await model20.evaluate(held.x, held.y, { batchSize: 7 });
    expect(pieces.accuracy).toBe(whole.accuracy);
    expect(pieces.loss).toBeCloseTo(whole.loss, 5);
    model20.dispose();
    const model = kiln.sequential([layers.dense(2)], { inputShape: [4] });
    model.compile({ optimizer: new kiln.SGD(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    const { x, y } = blobs(8, 1);
    await expect(model.fit(x, y, { validationData: [x, y], validationBatchSize: 0 })).rejects.toThrow('fit(): validationBatchSize must be a positive integer, got number 0');
    model.dispose();
  });

  it('a source of bytes with bytesDivisor trains exactly like the same values given as floats', async () => {
    const count = 40;
    const { y } = blobs(count, 4);
    // The first feature tells the class apart; the others are noise.
    const bytes = Uint8Array.from({ length: count * 4 }, (_, i) => (i % 4 === 0 ? (y[i >> 2] ? 170 : 40) + ((i * 13) % 50) : (i * 37) % 256));
    const source = (x: Float32Array | Uint8Array, bytesDivisor?: number): kiln.DataSource => ({
      count,
      bytesDivisor,
      batch: (indices) => {
        const picked = x instanceof Uint8Array ? new Uint8Array(indices.length * 4) : new Float32Array(indices.length * 4);
        indices.forEach((index, i) => picked.set(x.subarray(index * 4, index * 4 + 4), i * 4));
        return { x: picked, y: Int32Array.from(indices, (index) => y[index]) };
      },
    });
    const run = async (data: kiln.DataSource) => {
      const model = kiln.sequential([layers.dense(6, { activation: 'relu' }), layers.dense(2)], { inputShape: [4], seed: 2 });
      model.compile({ optimizer: new kiln.Adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
      const { history } = await model.fit(data, undefined, { epochs: 3, batchSize: 8, validationData: [data] });
      model.dispose();
      return history;
    };
    const fromBytes = await run(source(bytes, 255));
    expect(fromBytes).toEqual(await run(source(Float32Array.from(bytes, (v) => v / 255))));
    expect(fromBytes.loss[2]).toBeLessThan(fromBytes.loss[0]);
    // Without a divisor the bytes are taken as they are.
    expect(await run(source(bytes))).toEqual(await run(source(Float32Array.from(bytes))));
    // predict() takes the same source (its targets unused), in uneven batches.
    const trained = kiln.sequential([layers.dense(6, { activation: 'relu' }), layers.dense(2)], { inputShape: [4], seed: 2 });
    const floats = Float32Array.from(bytes, (v) => v / 255);
    const fromSource = await trained.predict(source(bytes, 255), { batchSize: 7 });
    const fromArray = await trained.predict(floats, { batchSize: 40 });
    expect(fromSource.shape).toEqual([count, 2]);
    expect(Array.from(fromSource.dataSync())).toEqual(Array.from(fromArray.dataSync()));
    for (const t of [fromSource, fromArray]) t.dispose();
    await expect(trained.predict(floats, { batchSize: 0 })).rejects.toThrow('predict(): batchSize must be a positive integer, got number 0');
    trained.compile({ optimizer: new kiln.SGD(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    await expect(trained.evaluate(source(bytes, 255), undefined, { batchSize: 2.5 })).rejects.toThrow('evaluate(): batchSize must be a positive integer, got number 2.5');
    trained.dispose();
    // Bad bytes are named errors that leave nothing allocated.
    const model = kiln.sequential([layers.dense(2)], { inputShape: [4] });
    model.compile({ optimizer: new kiln.SGD(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    const before = kiln.memory().liveBytes;
    await expect(model.fit(source(bytes, 0))).rejects.toThrow("fit(): the source's bytesDivisor must be a finite nonzero float32, got number 0");
    const short: kiln.DataSource = { count, bytesDivisor: 255, batch: (indices) => ({ x: new Uint8Array(indices.length * 4 - 1), y: Int32Array.from(indices, (i) => y[i]) }) };
    await expect(model.evaluate(short)).rejects.toThrow('fromBytes(): shape [32,4] needs 128 bytes, got 127');
    expect(kiln.memory().liveBytes).toBe(before);
    model.dispose();
  });

  for (const [name, make] of [
    ['SGD with Nesterov momentum', () => new kiln.SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true })],
    ['RMSprop', () => new kiln.RMSprop({ learningRate: 0.01 })],
    ['AdaGrad', () => new kiln.AdaGrad({ learningRate: 0.1 })],
    ['AdamW with a cosine schedule', () => new kiln.Adam({ learningRate: kiln.schedules.cosineDecay(0.05, 100), weightDecay: 1e-3 })],
  ] as const) {
    it(`${name} reduces the loss`, async () => {
      const model = kiln.sequential([layers.dense(8, { activation: 'tanh' }), layers.dense(2)], { inputShape: [4], seed: 5 });
      model.compile({ optimizer: make(), loss: 'sparseCategoricalCrossentropy', fromLogits: true });
      const { x, y } = blobs(128, 4);
      const { history } = await model.fit(x, y, { epochs: 8, batchSize: 16 });
      expect(history.loss.at(-1)!).toBeLessThan(history.loss[0] * 0.8);
      model.dispose();
    });
  }

  it('batch normalization and dropout train, and inference uses the moving statistics', async () => {
    const model = kiln.sequential(
      [layers.conv2d(4, 3, { padding: 'same' }), layers.batchNormalization({ momentum: 0.5 }), layers.activation('relu'), layers.flatten(), layers.dropout(0.3), layers.dense(2)],
      { inputShape: [5, 5, 2], seed: 4 },
    );
    model.compile({ optimizer: new kiln.Adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
    const x = randomValues(64 * 50, 11);
    const y = Int32Array.from({ length: 64 }, (_, i) => (x[i * 50] + x[i * 50 + 7] > 0 ? 1 : 0));
    const { history } = await model.fit(x, y, { epochs: 12, batchSize: 16 });
    expect(history.loss.at(-1)!).toBeLessThan(history.loss[0]);
    expect(Array.from(model.layers[1].state[0].dataSync()).some((v) => v !== 0)).toBe(true);
    const a = (await model.predict(x.subarray(0, 100))).dataSync();
    const b = (await model.predict(x.subarray(0, 100))).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b)); // no dropout, no batch statistics at inference
    model.dispose();
  });

  it('the same seed gives the same weights and the same training run', async () => {
    const run = async () => {
      const model = kiln.sequential([layers.dense(5, { activation: 'relu', kernelInitializer: 'heNormal' }), layers.dropout(0.2), layers.dense(2)], { inputShape: [4], seed: 9 });
      model.compile({ loss: 'sparseCategoricalCrossentropy', fromLogits: true });
      const { x, y } = blobs(64, 6);
      const initial = Array.from(model.weights[0].dataSync());
      const { history } = await model.fit(x, y, { epochs: 2, batchSize: 8, seed: 3 });
      model.dispose();
      return { initial, losses: history.loss };
    };
    const [a, b] = [await run(), await run()];
    expect(a.initial).toEqual(b.initial);
    expect(a.losses).toEqual(b.losses);
    const other = kiln.sequential([layers.dense(5)], { inputShape: [4], seed: 10 });
    expect(Array.from(other.weights[0].dataSync())).not.toEqual(a.initial);
    other.dispose();
  });

  it('a model built inside scope() keeps its weights', async () => {
    let model!: kiln.Sequential;
    kiln.scope(() => {
      model = kiln.sequential([layers.dense(2), layers.batchNormalization()], { inputShape: [3] }); // not returned
    });
    expect(model.weights.every((w) => !w.isDisposed)).toBe(true);
    const out = await model.predict(new Float32Array(6));
    expect(out.shape).toEqual([2, 2]);
    out.dispose();
    model.dispose();
  });

  it('keeps memory flat over many training steps', async () => {
    const model = kiln.sequential([layers.conv2d(3, 3, { activation: 'relu', padding: 'same' }), layers.maxPooling2d(), layers.flatten(), layers.dense(2)], { inputShape: [6, 6, 1], seed: 2 });
    model.compile({ loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
    const x = randomValues(16 * 36, 9);
    const y = new Int32Array(16).map((_, i) => i % 2);
    await model.fit(x, y, { epochs: 1, batchSize: 4 }); // optimizer state is created on the first step
    const before = kiln.memory().liveBytes;
    await model.fit(x, y, { epochs: 5, batchSize: 4 });
    expect(kiln.memory().liveBytes).toBe(before);
    model.dispose();
  });

  it('bad input: wrong shapes, labels out of range, length mismatch, NaN loss', async () => {
    const model = kiln.sequential([layers.dense(3)], { inputShape: [4] });
    await expect(model.fit(new Float32Array(8), new Int32Array(2))).rejects.toThrow('fit(): call compile() first');
    model.compile({ loss: 'sparseCategoricalCrossentropy', fromLogits: true });
    await expect(model.fit(new Float32Array(10), new Int32Array(2))).rejects.toThrow('fit(): x has 10 values, not a multiple of one example [4] = 4');
    await expect(model.fit(new Float32Array(8), new Int32Array(3))).rejects.toThrow('fit(): x has 2 examples but y has 3 values');
    await expect(model.fit(new Float32Array(8), new Int32Array([0, 3]))).rejects.toThrow('fit(): label at example 1 must be an integer class in [0, 3), got 3');
    const bad = kiln.sequential([layers.dense(3)], { inputShape: [4] });
    bad.compile({ loss: (p) => kiln.log(kiln.mulScalar(kiln.mean(p), 0)) }); // log 0: an infinite loss
    await expect(bad.fit(new Float32Array(8), new Int32Array([0, 1]), { epochs: 2 })).rejects.toThrow(/the loss became -Infinity at epoch 1, batch 1; the step was not applied/);
    bad.dispose();
    const zeros = kiln.zeros([2, 5]);
    expect(() => model.call(zeros)).toThrow("model: input 'input' must have shape [batch, 4], got [2,5]");
    zeros.dispose();
    expect(() => kiln.sequential([layers.dense(2)], { inputShape: [2, 2] })).toThrow('Dense: input must be flat');
    model.dispose();
  });
});
