/** What `kiln train` and `kiln evaluate` print about a model on a test set: accuracy, F1, ROC AUC, confusion. */
import type * as kiln from '../index.node.js';
import { accuracy, argmaxRows, confusionMatrix, precisionRecallF1, rocAucOneVsRest } from '../metrics.js';
import type { ImageSet } from '../data/cifar10.js';
import { softmaxRows } from '../model/classify.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

/** Images per batch when only predicting: no activations are kept for a backward pass. */
export const INFERENCE_BATCH = 256;

/** The pixel bytes (scaled to [0, 1] by the backend, in parallel) and labels of a batch of indices, augmented if asked. */
export function imageSource(set: ImageSet, augment?: (x: Uint8Array, count: number, seed: number) => Uint8Array, seed = 1): kiln.DataSource {
  const pixels = 32 * 32 * 3;
  // Refilled for each batch of the same size (fit() copies a batch before asking for the next).
  let x = new Uint8Array(0);
  let y = new Int32Array(0);
  return {
    count: set.count,
    bytesDivisor: 255,
    batch(indices, epoch) {
      if (y.length !== indices.length) {
        x = new Uint8Array(indices.length * pixels);
        y = new Int32Array(indices.length);
      }
      for (let i = 0; i < indices.length; i++) {
        x.set(set.images.subarray(indices[i] * pixels, (indices[i] + 1) * pixels), i * pixels);
        y[i] = set.labels[indices[i]];
      }
      return { x: augment ? augment(x, indices.length, (seed + epoch * 7919 + indices[0]) >>> 0) : x, y };
    },
  };
}

export interface Evaluation {
  accuracy: number;
  lines: string[];
  confusion: number[][];
}

/** Predicts the test set, prints the scores and the confusion matrix, and returns them for the report. */
export async function evaluateOnTest(model: kiln.Model, test: ImageSet, classNames: string[]): Promise<Evaluation> {
  const classes = classNames.length;
  const logits = await model.predict(imageSource(test), { batchSize: INFERENCE_BATCH });
  const values = (await logits.data()) as Float32Array;
  logits.dispose();
  const predicted = argmaxRows(values, test.count, classes);
  const truth = Array.from(test.labels);
  const acc = accuracy(truth, predicted);
  const scores = precisionRecallF1(truth, predicted, classes);
  const confusion = confusionMatrix(truth, predicted, classes);
  const probs = softmaxRows(values, classes);
  const auc = new Set(truth).size === classes ? rocAucOneVsRest(truth, probs, classes).macro.toFixed(4) : 'n/a (not every class is in the test set)';
  const lines = [
    `test accuracy: ${(acc * 100).toFixed(2)} % on ${test.count} images`,
    `macro F1: ${scores.macro.f1.toFixed(4)}`,
    `macro ROC AUC (one-vs-rest): ${auc}`,
    ...scores.perClass.map((s, c) => `F1 ${classNames[c]}: ${s.f1.toFixed(4)} (precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)})`),
  ];
  for (const line of lines) log(line);
  log('confusion matrix (rows: true class, columns: predicted):');
  for (const [c, row] of confusion.entries()) log(`${classNames[c].padEnd(18)} ${row.map((n) => String(n).padStart(5)).join('')}`);
  return { accuracy: acc, lines, confusion };
}
