/** `kiln evaluate MODEL`, `kiln predict MODEL IMAGE…` and `kiln info MODEL`. */
import { readFileSync, writeFileSync } from 'node:fs';
import * as kiln from '../index.node.js';
import { loadCifar10, CIFAR10_CLASS_NAMES } from '../data/cifar10.js';
import { readSafetensors } from '../io/safetensors.js';
import { trainingReportHtml } from '../train/report.js';
import { evaluateOnTest, softmaxRows } from './evaluation.js';
import { decodeImage } from '../io/images.js';
import { resizeRgb } from '../io/resize.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

const classNamesOf = (model: kiln.Model): string[] => {
  const names = model.metadata.classNames;
  const classes = model.outputShape.at(-1)!;
  return Array.isArray(names) && names.length === classes ? names.map(String) : Array.from({ length: classes }, (_, i) => (classes === 10 ? CIFAR10_CLASS_NAMES[i] : `class ${i}`));
};

/** What the model's inputs are multiplied by: its metadata's inputScale, else 1/255 for pixels. */
const inputScaleOf = (model: kiln.Model): number => (typeof model.metadata.inputScale === 'number' ? model.metadata.inputScale : 1 / 255);

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
  const [height, width, channels] = model.inputShape;
  if (model.inputShape.length !== 3 || channels !== 3) throw new kiln.ValueError(`kiln predict: ${path} takes inputs of shape [${model.inputShape}], not RGB images`);
  const classNames = classNamesOf(model);
  const scale = inputScaleOf(model);
  const x = new Float32Array(images.length * height * width * 3);
  images.forEach((file, i) => {
    const rgb = resizeRgb(decodeImage(new Uint8Array(readFileSync(file)), file), width, height);
    for (let j = 0; j < rgb.length; j++) x[i * rgb.length + j] = rgb[j] * scale;
  });
  const out = await model.predict(x);
  const values = (await out.data()) as Float32Array;
  out.dispose();
  const probs = model.metadata.outputs === 'probabilities' ? values : softmaxRows(values, classNames.length);
  images.forEach((file, i) => {
    const row = Array.from(probs.subarray(i * classNames.length, (i + 1) * classNames.length));
    const ranked = row.map((p, c) => [p, c]).sort((a, b) => b[0] - a[0]).slice(0, options.top);
    log(`${file}: ${ranked.map(([p, c]) => `${classNames[c]} ${(p * 100).toFixed(1)} %`).join(', ')}`);
  });
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
