/** Classification metrics over plain arrays (class indices, scores, row-major probabilities); no tensors. */
import { ShapeError, ValueError, describe } from './errors.js';

export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
}

export interface PerClassScores extends ClassScores {
  /** How many samples truly belong to the class. */
  support: number;
}

export interface PrecisionRecallF1 {
  perClass: PerClassScores[];
  /** Unweighted mean over all classes, including those with no support. */
  macro: ClassScores;
  /** Mean weighted by each class's support. */
  weighted: ClassScores;
}

function assertArrayLike(op: string, name: string, values: unknown): asserts values is ArrayLike<number> {
  const ok = Array.isArray(values) || (ArrayBuffer.isView(values) && !(values instanceof DataView));
  if (!ok) throw new ValueError(`${op}: ${name} must be an array or typed array, got ${describe(values)}`);
}

function assertSameLength(op: string, aName: string, a: ArrayLike<number>, bName: string, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new ShapeError(`${op}: ${aName} and ${bName} must have the same length, got ${a.length} and ${b.length}`);
  }
}

function assertNonEmpty(op: string, name: string, values: ArrayLike<number>): void {
  if (values.length === 0) throw new ShapeError(`${op}: ${name} must not be empty`);
}

function assertNumClasses(op: string, numClasses: unknown): asserts numClasses is number {
  if (!Number.isInteger(numClasses) || (numClasses as number) < 1) {
    throw new ValueError(`${op}: numClasses must be a positive integer, got ${describe(numClasses)}`);
  }
}

/** Every label an integer in [0, numClasses) (or ≥ 0 when numClasses is Infinity). */
function assertLabels(op: string, name: string, labels: ArrayLike<number>, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      const range = numClasses === Infinity ? 'a non-negative integer' : `an integer in [0, ${numClasses})`;
      throw new ValueError(`${op}: ${name}[${i}] must be ${range}, got ${label}`);
    }
  }
}

function assertNoNaN(op: string, name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) throw new ValueError(`${op}: ${name}[${i}] is NaN`);
  }
}

function checkPairs(op: string, yTrue: unknown, yPred: unknown, numClasses: number): void {
  assertArrayLike(op, 'yTrue', yTrue);
  assertArrayLike(op, 'yPred', yPred);
  assertSameLength(op, 'yTrue', yTrue, 'yPred', yPred);
  assertNonEmpty(op, 'yTrue', yTrue);
  assertLabels(op, 'yTrue', yTrue, numClasses);
  assertLabels(op, 'yPred', yPred, numClasses);
}

/** Fraction of samples whose predicted class index equals the true one. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPairs('accuracy()', yTrue, yPred, Infinity);
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) correct++;
  return correct / yTrue.length;
}

/** counts[t][p]: how many samples of true class t were predicted as p. */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): number[][] {
  const op = 'confusionMatrix()';
  assertNumClasses(op, numClasses);
  checkPairs(op, yTrue, yPred, numClasses);
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) counts[yTrue[i]][yPred[i]]++;
  return counts;
}

const ratio = (numerator: number, denominator: number) => (denominator === 0 ? 0 : numerator / denominator);

/** Per-class, macro and support-weighted precision, recall and F1; a zero denominator gives 0 (sklearn's zero_division=0). */
export function precisionRecallF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): PrecisionRecallF1 {
  const op = 'precisionRecallF1()';
  assertNumClasses(op, numClasses);
  checkPairs(op, yTrue, yPred, numClasses);
  const counts = confusionMatrix(yTrue, yPred, numClasses);
  const perClass = counts.map((row, c) => {
    const truePositives = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = counts.reduce((sum, r) => sum + r[c], 0);
    const precision = ratio(truePositives, predicted);
    const recall = ratio(truePositives, support);
    return { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const mean = (weight: (s: PerClassScores) => number): ClassScores => {
    const total = perClass.reduce((sum, s) => sum + weight(s), 0);
    const average = (key: keyof ClassScores) => ratio(perClass.reduce((sum, s) => sum + weight(s) * s[key], 0), total);
    return { precision: average('precision'), recall: average('recall'), f1: average('f1') };
  };
  return { perClass, macro: mean(() => 1), weighted: mean((s) => s.support) };
}

/** Area under the ROC curve for 0/1 labels: the Mann–Whitney U statistic, ties counted half (average ranks). */
export function rocAuc(yTrue: ArrayLike<number>, scores: ArrayLike<number>): number {
  const op = 'rocAuc()';
  assertArrayLike(op, 'yTrue', yTrue);
  assertArrayLike(op, 'scores', scores);
  assertSameLength(op, 'yTrue', yTrue, 'scores', scores);
  assertLabels(op, 'yTrue', yTrue, 2);
  assertNoNaN(op, 'scores', scores);
  return binaryAuc(op, 'yTrue', yTrue, scores);
}

function binaryAuc(op: string, what: string, isPositive: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] < scores[b] ? -1 : scores[a] > scores[b] ? 1 : 0));
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end++;
    const averageRank = (start + 1 + end) / 2; // ranks start+1 … end share their mean
    for (let j = start; j < end; j++) {
      if (isPositive[order[j]] === 1) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw new ValueError(`${op}: ${what} must contain both classes to define an AUC, got ${positives} positive and ${negatives} negative`);
  }
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** One-vs-rest AUC per class from row-major probabilities [rows × numClasses], and their unweighted mean. */
export function rocAucOneVsRest(
  yTrue: ArrayLike<number>,
  probs: Float32Array,
  numClasses: number,
): { perClass: number[]; macro: number } {
  const op = 'rocAucOneVsRest()';
  assertNumClasses(op, numClasses);
  assertArrayLike(op, 'yTrue', yTrue);
  if (!(probs instanceof Float32Array)) throw new ValueError(`${op}: probs must be a Float32Array, got ${describe(probs)}`);
  if (probs.length !== yTrue.length * numClasses) {
    throw new ShapeError(
      `${op}: probs must hold yTrue.length × numClasses = ${yTrue.length} × ${numClasses} = ${yTrue.length * numClasses} values, got ${probs.length}`,
    );
  }
  assertLabels(op, 'yTrue', yTrue, numClasses);
  assertNoNaN(op, 'probs', probs);
  const rows = yTrue.length;
  const perClass = Array.from({ length: numClasses }, (_, c) => {
    const isClass = Uint8Array.from({ length: rows }, (_, i) => (yTrue[i] === c ? 1 : 0));
    const column = Float32Array.from({ length: rows }, (_, i) => probs[i * numClasses + c]);
    return binaryAuc(op, `class ${c} (yTrue === ${c})`, isClass, column);
  });
  return { perClass, macro: perClass.reduce((a, b) => a + b, 0) / numClasses };
}

/** Index of the largest value in each row of a row-major [rows × cols] matrix; the first wins ties. */
export function argmaxRows(values: Float32Array, rows: number, cols: number): Int32Array {
  const op = 'argmaxRows()';
  if (!(values instanceof Float32Array)) throw new ValueError(`${op}: values must be a Float32Array, got ${describe(values)}`);
  if (!Number.isInteger(rows) || rows < 0) throw new ValueError(`${op}: rows must be a non-negative integer, got ${describe(rows)}`);
  if (!Number.isInteger(cols) || cols < 1) throw new ValueError(`${op}: cols must be a positive integer, got ${describe(cols)}`);
  if (values.length !== rows * cols) {
    throw new ShapeError(`${op}: values must hold rows × cols = ${rows} × ${cols} = ${rows * cols} values, got ${values.length}`);
  }
  assertNoNaN(op, 'values', values);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let best = 0;
    for (let c = 1; c < cols; c++) if (values[base + c] > values[base + best]) best = c;
    out[r] = best;
  }
  return out;
}
