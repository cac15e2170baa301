/** Functional (graph) models: building, errors that name the layer, fusion found on the graph, summaries. */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { randomValues } from './helpers.js';

const { layers } = kiln;

/** The seed CNN through the functional API: the same layers, the same order, so the same seeds. */
function functionalCnn(seed = 1) {
  const x = kiln.input({ shape: [32, 32, 3] });
  let h = layers.conv2d(32, 3, { activation: 'relu' }).apply(x);
  h = layers.maxPooling2d().apply(h);
  h = layers.conv2d(64, 3, { activation: 'relu' }).apply(h);
  h = layers.maxPooling2d().apply(h);
  h = layers.conv2d(64, 3, { activation: 'relu' }).apply(h);
  h = layers.dense(64, { activation: 'relu' }).apply(layers.flatten().apply(h));
  return kiln.model({ inputs: x, outputs: layers.dense(10).apply(h), seed });
}

async function weightsOf(model: kiln.Model): Promise<number[][]> {
  return Promise.all(model.weights.map(async (w) => Array.from(await w.data())));
}

describe('graph models (wasm simd)', () => {
  beforeAll(async () => {
    await kiln.ready({ variant: 'simd' });
  });

  it('the seed CNN built with sequential() and with the functional API trains bit-identically', async () => {
    const images = Float32Array.from(randomValues(48 * 3072, 3), (v) => (v + 1) / 2);
    const labels = Int32Array.from({ length: 48 }, (_, i) => (i * 7) % 10);
    const run = async (model: kiln.Model) => {
      model.compile({ optimizer: new kiln.Adam(), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
      const { history } = await model.fit(images, labels, { epochs: 2, batchSize: 16, seed: 4 });
      const weights = await weightsOf(model);
      model.dispose();
      return { history, weights };
    };
    const chain = await run(kiln.cifar10Cnn({ seed: 2 }));
    const graph = await run(functionalCnn(2));
    expect(graph.weights).toEqual(chain.weights);
    expect(graph.history).toEqual(chain.history);
  });

  it('runs a convolution and the pooling it alone feeds as one kernel; not when the convolution has another reader', () => {
    const build = (shareConv: boolean) => {
      const x = kiln.input({ shape: [8, 8, 2] });
      const c = layers.conv2d(3, 3, { activation: 'relu', padding: 'same' }).apply(x);
      const p = layers.maxPooling2d().apply(c);
      const outputs = shareConv ? [layers.flatten().apply(p), layers.globalAveragePooling2d().apply(c)] : [layers.flatten().apply(p)];
      return kiln.model({ inputs: x, outputs, seed: 3 });
    };
    const fused = build(false);
    const shared = build(true);
    expect(fused.graph.steps.some((s) => s.fusedPool)).toBe(true);
    expect(shared.graph.steps.some((s) => s.fusedPool)).toBe(false);
    const x = kiln.tensor(randomValues(2 * 128, 5), [2, 8, 8, 2]);
    const a = fused.predictOnBatch(x);
    const [b, gap] = shared.call(x, false, true);
    expect(gap.shape).toEqual([2, 3]);
    // Same seed, same layer order: the same weights, and fused or not the same pooled values.
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    for (const t of [x, a, b, gap]) t.dispose();
    fused.dispose();
    shared.dispose();
  });

  it('residual graphs: add, concatenate, shared layers, two inputs and two outputs', async () => {
    const image = kiln.input({ shape: [6, 6, 2], name: 'image' });
    const extra = kiln.input({ shape: [4], name: 'extra' });
    const conv = layers.conv2d(2, 3, { padding: 'same', name: 'shared_conv' });
    const h = layers.add().apply([conv.apply(image), image]);
    const twice = conv.apply(h); // the same weights applied again
    const features = layers.concatenate().apply([layers.globalAveragePooling2d().apply(twice), extra]);
    const logits = layers.dense(3).apply(features);
    const probs = layers.softmax().apply(logits);
    const model = kiln.model({ inputs: [image, extra], outputs: [logits, probs] });
    expect(model.layers.filter((l) => l === conv)).toHaveLength(1);
    expect(model.weights).toHaveLength(4); // shared conv (kernel, bias) once, dense (kernel, bias)
    const summary = model.summary();
    expect(summary).toContain('image (InputLayer)');
    expect(summary).toContain('Connected to');
    expect(summary).toMatch(/add \(Add\)\s+\(None, 6, 6, 2\)\s+0\s+shared_conv\[0\], image/);
    expect(summary).toMatch(/concatenate \(Concatenate\)\s+\(None, 6\)\s+0\s+global_average_pooling2d, extra/);

    const xs = [kiln.tensor(randomValues(3 * 72, 1), [3, 6, 6, 2]), kiln.tensor(randomValues(12, 2), [3, 4])];
    const [l, p] = model.call(xs, false, true);
    expect(l.shape).toEqual([3, 3]);
    const rows = p.dataSync();
    for (let r = 0; r < 3; r++) expect(rows[r * 3] + rows[r * 3 + 1] + rows[r * 3 + 2]).toBeCloseTo(1, 5);
    // Gradients reach the shared layer through both of its uses.
    const { grads } = kiln.valueAndGrads(() => ({ loss: kiln.sum(model.call(xs, true, true)[0]) }), model.weights);
    expect(grads.every((g) => g.dataSync().some((v) => v !== 0))).toBe(true);
    for (const t of [...xs, l, p, ...grads]) t.dispose();
    model.dispose();
  });

  it('build-time errors name the layer: shapes add/concatenate cannot combine, unreachable outputs, values for symbols', () => {
    const a = kiln.input({ shape: [4, 4, 3] });
    const b = kiln.input({ shape: [4, 4, 5] });
    expect(() => layers.add({ name: 'merge' }).apply([a, b])).toThrow("Add 'merge': cannot add inputs of shapes [4,4,3] and [4,4,5] (input 1); all must be equal");
    expect(() => layers.concatenate().apply([a, kiln.input({ shape: [4, 3, 3] })])).toThrow('Concatenate: cannot concatenate inputs of shapes [4,4,3] and [4,3,3] (input 1) along axis -1');
    expect(layers.concatenate().apply([a, b]).shape).toEqual([4, 4, 8]);
    expect(() => layers.add().apply(a)).toThrow('Add.apply(): takes an array of inputs, got one');
    expect(() => layers.dense(2).apply(a)).toThrow('Dense: input must be flat [features] per example, got [4,4,3]');
    const other = kiln.input({ shape: [4, 4, 3], name: 'other' });
    const out = layers.add().apply([a, other]);
    expect(() => kiln.model({ inputs: a, outputs: out })).toThrow(/outputs\[0\] \(through Add\) is not reachable from the inputs: it depends on an input of shape \[4,4,3\] \('other'\)/);
    const t = kiln.zeros([1, 4, 4, 3]);
    expect(() => layers.flatten().apply(t as never)).toThrow("Flatten.apply(): input 0 must be a symbolic tensor from kiln.input() or another layer's apply(), got Tensor");
    t.dispose();
    expect(() => kiln.model({ inputs: a, outputs: [layers.flatten({ name: 'x' }).apply(a), layers.flatten({ name: 'x' }).apply(a)] })).toThrow("two layers are named 'x'");
  });

  it('layers: zeroPadding2d, reshape, leakyRelu and softmax compute what they say', () => {
    const x = kiln.input({ shape: [2, 2, 1] });
    const padded = layers.zeroPadding2d([[1, 0], [0, 2]]).apply(x);
    expect(padded.shape).toEqual([3, 4, 1]);
    const model = kiln.model({ inputs: x, outputs: [padded, layers.leakyRelu({ alpha: 0.5 }).apply(layers.reshape([4]).apply(x))] });
    const input = kiln.tensor(new Float32Array([1, -2, 3, -4]), [1, 2, 2, 1]);
    const [p, r] = model.call(input, false, true);
    expect(Array.from(p.dataSync())).toEqual([0, 0, 0, 0, 1, -2, 0, 0, 3, -4, 0, 0]);
    expect(Array.from(r.dataSync())).toEqual([1, -1, 3, -2]);
    const c = kiln.scope(() => kiln.concat([kiln.tensor([[1, 2], [3, 4]]), kiln.tensor([[5], [6]])]));
    expect(Array.from(c.dataSync())).toEqual([1, 2, 5, 3, 4, 6]);
    for (const t of [input, p, r, c]) t.dispose();
    model.dispose();
    expect(() => layers.reshape([3, -1]).apply(kiln.input({ shape: [4] }))).toThrow('Reshape: cannot reshape [4] (4 values per example) into [3,-1]');
  });

  it('ResNet-20: 0.27 M parameters, summary connections, one training step that changes the loss', async () => {
    const model = kiln.models.resnet20({ seed: 1 });
    expect(model.parameterCount).toBe(272_474); // by hand: 432 + 32 + 14,016 + 51,648 + 205,696 + 650
    expect(model.summary()).toMatch(/add_8 \(Add\)\s+\(None, 8, 8, 64\)/);
    model.compile({ optimizer: new kiln.Adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
    const x = Float32Array.from(randomValues(8 * 3072, 2), (v) => (v + 1) / 2);
    const y = Int32Array.from({ length: 8 }, (_, i) => i % 10);
    const before = (await model.evaluate(x, y, { batchSize: 8 })).loss;
    await model.fit(x, y, { epochs: 3, batchSize: 8 });
    const after = (await model.evaluate(x, y, { batchSize: 8 })).loss;
    expect(after).toBeLessThan(before);
    model.dispose();
  });
});
