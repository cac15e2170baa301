// toOnnx(model) from 'kiln/onnx': every layer kiln has, both built-in models and a two-input, two-output graph, checked by
// Python onnx's checker (full check) and run in onnxruntime-node and onnxruntime-web: outputs within 1e-4 of kiln's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import * as kiln from '../ts/index.node.js';
import { toOnnx } from '../ts/io/onnx/index.js';
import { randomValues } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;
const L = kiln.layers;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-onnx-'));
  await kiln.ready({ threads: 1 });
  ortWeb.env.wasm.numThreads = 1;
});

/**
 * A graph with every layer kind, odd sizes, 'same' padding with strides, two inputs and two outputs; `training`
 * (one output) shares its layers.
 */
function everyLayer(): { training: kiln.Model; both: kiln.Model } {
  const image = kiln.input({ shape: [11, 13, 3], name: 'image' });
  const extra = kiln.input({ shape: [5], name: 'extra' });
  const padded = L.zeroPadding2d([[1, 2], [0, 1]]).apply(image);
  const a = L.conv2d(6, 3, { strides: 2, padding: 'same', activation: 'leakyRelu' }).apply(padded);
  const b = L.conv2d(4, [1, 3], { padding: 'same', dilation: [1, 2], useBias: false }).apply(padded);
  const bStrided = L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(b);
  const joined = L.concatenate().apply([L.batchNormalization().apply(a), bStrided]);
  const wide = L.concatenate({ axis: 1 }).apply([joined, L.activation('sigmoid').apply(joined)]);
  const pooled = L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(L.leakyRelu({ alpha: 0.1 }).apply(wide));
  const summed = L.add().apply([pooled, L.activation('tanh').apply(pooled)]);
  const reshaped = L.reshape([-1, 10]).apply(summed);
  const flat = L.flatten().apply(L.softmax().apply(reshaped));
  const mixed = L.concatenate().apply([L.dropout(0.3).apply(flat), L.dense(7, { activation: 'relu' }).apply(extra)]);
  const logits = L.dense(4, { name: 'logits' }).apply(L.batchNormalization().apply(L.dense(9, { activation: 'tanh' }).apply(mixed)));
  const regrouped = L.conv2d(3, 1).apply(L.reshape([14, 7, 10]).apply(summed));
  const channels = L.dense(3, { activation: 'softmax', name: 'channels' }).apply(L.globalAveragePooling2d().apply(regrouped));
  const training = kiln.model({ inputs: [image, extra], outputs: logits });
  return { training, both: kiln.model({ inputs: [image, extra], outputs: [logits, channels] }) };
}

async function trainedStep(model: kiln.Model, inputs: Float32Array[], targets: Float32Array[] | Int32Array) {
  model.compile({ optimizer: new kiln.Adam(), loss: Array.isArray(targets) ? 'meanSquaredError' : 'sparseCategoricalCrossentropy', fromLogits: true });
  await model.fit(inputs.length === 1 ? inputs[0] : inputs, targets as never, { epochs: 1, batchSize: 4, verbose: 0 });
}

/** NHWC example arrays as NCHW. */
function toNchw(x: Float32Array, [h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  const n = x.length / (h * w * c);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let z = 0; z < w; z++) for (let k = 0; k < c; k++) out[((i * c + k) * h + y) * w + z] = x[((i * h + y) * w + z) * c + k];
  return out;
}

async function compare(name: string, model: kiln.Model, batch: number) {
  const inputs = model.inputs.map((t, i) => Float32Array.from(randomValues(batch * t.shape.reduce((a, b) => a * b, 1), 40 + i)));
  const tensors = inputs.map((x, i) => kiln.tensor(x, [batch, ...model.inputs[i].shape]));
  const out = model.predictOnBatch(tensors.length === 1 ? tensors[0] : tensors) as unknown as kiln.Tensor | kiln.Tensor[];
  const want = await Promise.all((Array.isArray(out) ? out : [out]).map(async (t) => Array.from((await t.data()) as Float32Array)));
  [...tensors, ...(Array.isArray(out) ? out : [out])].forEach((t) => t.dispose());

  const files: string[] = [];
  for (const layout of ['NHWC', 'NCHW'] as const) {
    const bytes = await toOnnx(model, { inputLayout: layout });
    const file = join(dir, `${name}-${layout}.onnx`);
    writeFileSync(file, bytes);
    files.push(file);
    for (const [engine, ort] of [['onnxruntime-node', ortNode], ['onnxruntime-web', ortWeb]] as const) {
      const session = await (ort as typeof ortNode).InferenceSession.create(bytes);
      expect(session.inputNames).toEqual(model.graph.inputNames);
      const feeds = Object.fromEntries(model.inputs.map((t, i) => {
        const image = t.shape.length === 3 && layout === 'NCHW';
        const [h, w, c] = t.shape;
        return [session.inputNames[i], new (ort as typeof ortNode).Tensor('float32', image ? toNchw(inputs[i], t.shape) : inputs[i], [batch, ...(image ? [c, h, w] : t.shape)])];
      }));
      const results = await session.run(feeds);
      session.outputNames.forEach((output, k) => {
        const got = results[output].data as Float32Array;
        expect(results[output].dims, `${name} ${layout} ${engine} ${output}`).toEqual([batch, ...model.outputs[k].shape]);
        const error = want[k].reduce((m, v, j) => Math.max(m, Math.abs(v - got[j])), 0);
        expect(error, `${name} ${layout} ${engine} ${output}`).toBeLessThan(1e-4);
      });
    }
  }
  return files;
}

describe("toOnnx(model) ('kiln/onnx')", () => {
  it('exports the seed CNN, ResNet-20 and a graph with every layer; onnx.checker accepts them, ORT node and web match kiln', async () => {
    const cnn = kiln.cifar10Cnn({ seed: 5 });
    await trainedStep(cnn, [Float32Array.from(randomValues(8 * 3072, 1))], Int32Array.from({ length: 8 }, (_, i) => i));
    const resnet = kiln.models.resnet20({ seed: 5 });
    await trainedStep(resnet, [Float32Array.from(randomValues(8 * 3072, 2))], Int32Array.from({ length: 8 }, (_, i) => i));
    const { training, both: graph } = everyLayer();
    // fit() takes single-input models; training-mode forward passes move the batch-norm statistics instead.
    for (let step = 0; step < 3; step++) {
      kiln.scope(() => void training.call([kiln.tensor(Float32Array.from(randomValues(4 * 11 * 13 * 3, 3 + step)), [4, 11, 13, 3]), kiln.tensor(Float32Array.from(randomValues(4 * 5, 9 + step)), [4, 5])], true));
    }

    const files = [...(await compare('cnn', cnn, 3)), ...(await compare('resnet20', resnet, 2)), ...(await compare('every-layer', graph, 5))];
    const checked = JSON.parse(execFileSync(join(root, '.venv/bin/python'), [join(root, 'test/python/onnx_check.py'), ...files], { encoding: 'utf8' }));
    for (const file of files) expect(checked[file]).toBe(17);
    for (const m of [cnn, resnet, graph]) m.dispose();
  }, 120_000);

  it('`kiln export MODEL --onnx FILE` writes what toOnnx(model) gives', async () => {
    const model = kiln.cifar10Cnn({ seed: 9 });
    const file = join(dir, 'cli.kiln');
    await model.save(file);
    for (const layout of ['NHWC', 'NCHW'] as const) {
      const onnx = join(dir, `cli-${layout}.onnx`);
      const stdout = execFileSync('node', [join(root, 'dist/cli/main.js'), 'export', file, '--onnx', onnx, '--input-layout', layout], { encoding: 'utf8' });
      expect(stdout).toContain(`inputs input [batch, ${layout === 'NHWC' ? '32,32,3' : '3,32,32'}]`);
      expect(Buffer.compare(readFileSync(onnx), Buffer.from(await toOnnx(model, { inputLayout: layout })))).toBe(0);
    }
    model.dispose();
  });

  it('takes only NHWC or NCHW as the input layout', async () => {
    const model = kiln.cifar10Cnn();
    await expect(toOnnx(model, { inputLayout: 'NWHC' as never })).rejects.toThrow("inputLayout must be 'NHWC' or 'NCHW', got 'NWHC'");
    model.dispose();
  });
});
