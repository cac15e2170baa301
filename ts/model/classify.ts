/**
 * Images to class probabilities with what a model file says about itself (metadata classNames, inputScale,
 * outputs: 'logits' | 'probabilities'): `kiln predict`, and pages that classify a dropped image.
 */
import type { Rgba } from '../io/resize.js';
import { resizeRgb } from '../io/resize.js';
import { ValueError } from '../errors.js';
import { CIFAR10_CLASS_NAMES } from '../data/classes.js';
import type { Model } from './model.js';

export interface Classification {
  label: string;
  probability: number;
}

/** The model's class names: its metadata's, else CIFAR-10's for 10 classes, else "class i". */
export function classNamesOf(model: Model): string[] {
  const names = model.metadata.classNames;
  const classes = model.outputShape.at(-1)!;
  return Array.isArray(names) && names.length === classes ? names.map(String) : Array.from({ length: classes }, (_, i) => (classes === 10 ? CIFAR10_CLASS_NAMES[i] : `class ${i}`));
}

/** RGBA images as the model's input batch: resized by area averaging to its height × width, times inputScale. */
export function imagesToInput(model: Model, images: Rgba[]): Float32Array {
  const [height, width, channels] = model.inputShape;
  if (model.inputShape.length !== 3 || channels !== 3) throw new ValueError(`classify: the model takes inputs of shape [${model.inputShape}], not RGB images`);
  const scale = typeof model.metadata.inputScale === 'number' ? model.metadata.inputScale : 1 / 255;
  const x = new Float32Array(images.length * height * width * 3);
  images.forEach((image, i) => {
    const rgb = resizeRgb(image, width, height);
    for (let j = 0; j < rgb.length; j++) x[i * rgb.length + j] = rgb[j] * scale;
  });
  return x;
}

/** Each image's `top` classes, most probable first. */
export async function classify(model: Model, images: Rgba[], top = 3): Promise<Classification[][]> {
  const names = classNamesOf(model);
  const out = await model.predict(imagesToInput(model, images));
  const values = (await out.data()) as Float32Array;
  out.dispose();
  const probabilities = model.metadata.outputs === 'probabilities' ? values : softmaxRows(values, names.length);
  return images.map((_, i) =>
    Array.from(probabilities.subarray(i * names.length, (i + 1) * names.length), (probability, c) => ({ label: names[c], probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, top),
  );
}

/** Row-wise softmax of logits, in double precision. */
export function softmaxRows(values: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < values.length / cols; r++) {
    const row = values.subarray(r * cols, (r + 1) * cols);
    const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
    let total = 0;
    for (let c = 0; c < cols; c++) total += out[r * cols + c] = Math.exp(row[c] - max);
    for (let c = 0; c < cols; c++) out[r * cols + c] /= total;
  }
  return out;
}
