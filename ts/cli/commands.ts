/** `kiln evaluate MODEL`, `kiln predict MODEL IMAGE…`, `kiln info MODEL` and `kiln export MODEL --onnx FILE`. */
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/node-files.js';
import { toOnnx } from '../io/onnx/index.js';
import * as kiln from '../index.node.js';
import { loadCifar10 } from '../data/cifar10.js';
import { classify, classNamesOf } from '../model/classify.js';
import { readSafetensors } from '../io/safetensors.js';
import { trainingReportHtml } from '../train/report.js';
import { evaluateOnTest } from './evaluation.js';
import { decodeImage } from '../io/images.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

export async function evaluateCommand(path: string, options: { dataDir?: string; download: boolean; testLimit?: number; report: string; threads?: number }): Promise<void> {
  await kiln.ready(options.threads ? { threads: options.threads } : {});
  const model = await kiln.load(path);
  const { test, source } = await loadCifar10({ dir: options.dataDir, download: options.download, trainLimit: 1, testLimit: options.testLimit });
  log(`${path} on the CIFAR-10 test set (${test.count} images from ${source})`);
  const classNames = classNamesOf(model);
  const evaluation = await evaluateOnTest(model, test, classNames);
  writeFileSync(options.report, trainingReportHtml([], { title: `${path} on CIFAR-10 (${test.count} test images)`, lines: evaluation.lines, confusion: evaluation.confusion, classNames }));
  log(`report: ${options.report}`);
  model.dispose();
}

export async function predictCommand(path: string, images: string[], options: { top: number }): Promise<void> {
  await kiln.ready();
  const model = await kiln.load(path);
  const results = await classify(model, images.map((file) => decodeImage(new Uint8Array(readFileSync(file)), file)), options.top);
  images.forEach((file, i) => log(`${file}: ${results[i].map(({ label, probability }) => `${label} ${(probability * 100).toFixed(1)} %`).join(', ')}`));
  model.dispose();
}

export async function infoCommand(path: string): Promise<void> {
  await kiln.ready({ threads: 1 });
  const bytes = new Uint8Array(readFileSync(path));
  const model = kiln.modelFromBytes(bytes);
  const { metadata } = readSafetensors(bytes);
  log(`${path}: kiln model file, format ${metadata.format_version}, ${bytes.length.toLocaleString('en-US')} bytes, tensors SHA-256 ${metadata.sha256}`);
  log(model.summary());
  log(`metadata: ${JSON.stringify(model.metadata, null, 2)}`);
  model.dispose();
}

export async function exportCommand(path: string, options: { onnx: string; inputLayout: 'NHWC' | 'NCHW' }): Promise<void> {
  await kiln.ready({ threads: 1 });
  const model = await kiln.load(path);
  const bytes = await toOnnx(model, { inputLayout: options.inputLayout });
  writeFileAtomicSync(options.onnx, bytes);
  log(`${options.onnx}: ONNX opset 17, ${bytes.length.toLocaleString('en-US')} bytes, inputs ${model.inputs.map((t, i) => `${model.graph.inputNames[i]} [batch, ${t.shape.length === 3 && options.inputLayout === 'NCHW' ? [t.shape[2], t.shape[0], t.shape[1]] : t.shape}]`).join(', ')}`);
  model.dispose();
}
