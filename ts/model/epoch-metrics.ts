/**
 * Metrics over a whole epoch: a confusion matrix (accuracy, macro precision / recall / F1) and, for 'auc', every
 * example's class probabilities (one-vs-rest macro ROC AUC), filled batch by batch from the outputs.
 */
import { rocAuc } from '../metrics.js';

export const METRIC_NAMES = ['accuracy', 'precision', 'recall', 'f1', 'auc'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export class EpochMetrics {
  /** counts[true][predicted]; one output column counts as two classes (above or below the threshold). */
  readonly confusion: number[][];
  private readonly classes: number;
  private readonly probs: Float32Array[] = [];
  private readonly labels: number[] = [];

  constructor(
    readonly names: readonly MetricName[],
    outputWidth: number,
    private readonly fromLogits: boolean,
  ) {
    this.classes = Math.max(2, outputWidth);
    this.confusion = Array.from({ length: this.classes }, () => new Array(this.classes).fill(0));
  }

  get wanted(): boolean {
    return this.names.length > 0;
  }

  /** Adds a batch: outputs [rows, width], targets as labels (rows values) or one-hot / 0-1 values per output. */
  add(outputs: Float32Array, targets: Float32Array | Int32Array, rows: number): void {
    const width = outputs.length / rows;
    const targetWidth = targets.length / rows;
    const keepProbs = this.names.includes('auc');
    for (let i = 0; i < rows; i++) {
      const row = outputs.subarray(i * width, (i + 1) * width);
      const label = targetWidth === 1 ? (width === 1 ? (targets[i] >= 0.5 ? 1 : 0) : targets[i]) : argmax(targets.subarray(i * targetWidth, (i + 1) * targetWidth));
      const probs = this.probabilities(row);
      const predicted = width === 1 ? (probs[1] >= 0.5 ? 1 : 0) : argmax(row);
      if (label >= 0 && label < this.classes) this.confusion[label][predicted]++;
      if (keepProbs) {
        this.probs.push(probs);
        this.labels.push(label);
      }
    }
  }

  private probabilities(row: Float32Array): Float32Array {
    if (row.length === 1) {
      const p = this.fromLogits ? 1 / (1 + Math.exp(-row[0])) : row[0];
      return Float32Array.of(1 - p, p);
    }
    if (!this.fromLogits) return row.slice();
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  logs(): Record<string, number> {
    const out: Record<string, number> = {};
    const n = this.classes;
    const c = this.confusion;
    const total = c.flat().reduce((a, b) => a + b, 0);
    const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
    const perClass = c.map((row, k) => {
      const precision = ratio(row[k], c.reduce((s, r) => s + r[k], 0));
      const recall = ratio(row[k], row.reduce((a, b) => a + b, 0));
      return { precision, recall, f1: ratio(2 * precision * recall, precision + recall) };
    });
    const macro = (key: 'precision' | 'recall' | 'f1') => perClass.reduce((s, p) => s + p[key], 0) / n;
    for (const name of this.names) {
      if (name === 'accuracy') out.accuracy = ratio(c.reduce((s, row, k) => s + row[k], 0), total);
      else if (name === 'auc') out.auc = this.auc();
      else out[name] = macro(name);
    }
    return out;
  }

  /** Macro one-vs-rest AUC over the classes present (NaN when fewer than two are): a class without examples has none. */
  private auc(): number {
    const present = [...new Set(this.labels)];
    if (present.length < 2) return NaN;
    const areas = present.map((k) => rocAuc(this.labels.map((l) => (l === k ? 1 : 0)), Float32Array.from(this.probs, (p) => p[k])));
    return areas.reduce((a, b) => a + b, 0) / areas.length;
  }
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < values.length; j++) if (values[j] > values[best]) best = j;
  return best;
}
