import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError } from '../ts/errors.js';
import { accuracy, argmaxRows, confusionMatrix, precisionRecallF1, rocAuc, rocAucOneVsRest } from '../ts/metrics.js';
import { randomValues } from './helpers.js';

/** AUC by its definition: P(score of a positive > score of a negative), ties counting half. */
function pairwiseAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let j = 0; j < labels.length; j++) {
      if (labels[i] !== 1 || labels[j] !== 0) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('accuracy and confusionMatrix', () => {
  it('counts matches and places counts at [true][predicted]', () => {
    expect(accuracy([0, 1, 2, 1], new Int32Array([0, 2, 2, 1]))).toBe(0.75);
    expect(confusionMatrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)).toEqual([
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 1],
    ]);
  });

  it('rejects mismatched lengths, empty input, labels out of range and bad numClasses', () => {
    expect(() => accuracy([0, 1], [0])).toThrow(ShapeError);
    expect(() => accuracy([0, 1], [0])).toThrow('yTrue and yPred must have the same length, got 2 and 1');
    expect(() => accuracy([], [])).toThrow(ShapeError);
    expect(() => accuracy([0, 1.5], [0, 1])).toThrow('yTrue[1] must be a non-negative integer, got 1.5');
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(ValueError);
    expect(() => confusionMatrix([0, 1], [0, -1], 3)).toThrow('yPred[1] must be an integer in [0, 3), got -1');
    expect(() => confusionMatrix([0], [0], 0)).toThrow('numClasses must be a positive integer');
  });
});

describe('precisionRecallF1', () => {
  // Confusion [[2,1,0],[1,1,0],[2,2,0]]: class 2 is never predicted, so its precision is 0/0 → 0.
  const yTrue = [0, 0, 0, 1, 1, 2, 2, 2, 2];
  const yPred = [0, 0, 1, 1, 0, 0, 1, 1, 0];

  it('gives per-class values computed by hand, with 0 for a class never predicted', () => {
    const { perClass } = precisionRecallF1(yTrue, yPred, 3);
    const want = [
      { precision: 2 / 5, recall: 2 / 3, f1: 0.5, support: 3 },
      { precision: 1 / 4, recall: 1 / 2, f1: 1 / 3, support: 2 },
      { precision: 0, recall: 0, f1: 0, support: 4 },
    ];
    perClass.forEach((got, c) => {
      expect(got.support).toBe(want[c].support);
      expect(got.precision).toBeCloseTo(want[c].precision, 12);
      expect(got.recall).toBeCloseTo(want[c].recall, 12);
      expect(got.f1).toBeCloseTo(want[c].f1, 12);
    });
  });

  it('averages macro over all classes and weighted by support (weighted recall = accuracy)', () => {
    const { macro, weighted } = precisionRecallF1(yTrue, yPred, 3);
    expect(macro.precision).toBeCloseTo(0.65 / 3, 12);
    expect(macro.recall).toBeCloseTo(7 / 18, 12);
    expect(macro.f1).toBeCloseTo(5 / 18, 12);
    expect(weighted.precision).toBeCloseTo(1.7 / 9, 12);
    expect(weighted.recall).toBeCloseTo(accuracy(yTrue, yPred), 12);
    expect(weighted.f1).toBeCloseTo(13 / 54, 12);
  });

  it('counts a class absent from both arrays with zeros in the macro mean', () => {
    const { perClass, macro } = precisionRecallF1([0, 1], [0, 1], 4);
    expect(perClass[3]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(macro.f1).toBe(0.5);
  });
});

describe('rocAuc', () => {
  it('matches hand-computed values, ties counted half', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    // Positives 0.35, 0.8, 0.4 vs negatives 0.1, 0.4, 0.4: 1 + 3 + (1 + 0.5 + 0.5) = 6 of 9 pairs.
    expect(rocAuc([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.4, 0.4])).toBeCloseTo(2 / 3, 12);
    expect(rocAuc([1, 1, 0, 0], [5, 5, 5, 5])).toBe(0.5);
    expect(rocAuc([0, 1], [-Infinity, Infinity])).toBe(1);
  });

  it('agrees with the pairwise definition on 300 samples with many ties', () => {
    const noise = randomValues(600, 7);
    const labels = Array.from({ length: 300 }, (_, i) => (noise[i] > 0 ? 1 : 0));
    const scores = Array.from({ length: 300 }, (_, i) => Math.round((noise[300 + i] + labels[i]) * 4) / 4);
    expect(rocAuc(labels, scores)).toBeCloseTo(pairwiseAuc(labels, scores), 12);
  });

  it('rejects one-class labels, non-0/1 labels, NaN scores and mismatched lengths', () => {
    expect(() => rocAuc([1, 1], [0.2, 0.3])).toThrow('got 2 positive and 0 negative');
    expect(() => rocAuc([0, 2], [0.2, 0.3])).toThrow('yTrue[1] must be an integer in [0, 2), got 2');
    expect(() => rocAuc([0, 1], [0.2, NaN])).toThrow('scores[1] is NaN');
    expect(() => rocAuc([0, 1], [0.2])).toThrow(ShapeError);
  });
});

describe('rocAucOneVsRest', () => {
  it('gives each class its binary AUC and their mean', () => {
    const probs = new Float32Array([0.6, 0.3, 0.1, 0.2, 0.5, 0.3, 0.1, 0.2, 0.7, 0.5, 0.3, 0.2]);
    const { perClass, macro } = rocAucOneVsRest([0, 1, 2, 2], probs, 3);
    // Class 2: positives 0.7, 0.2 vs negatives 0.1, 0.3 → 3 of 4 pairs.
    expect(perClass).toEqual([1, 1, 0.75]);
    expect(macro).toBeCloseTo(2.75 / 3, 12);
  });

  it('names a class with only one label value and checks the probs size', () => {
    const probs = new Float32Array(12).fill(0.25);
    expect(() => rocAucOneVsRest([0, 1, 1, 0], probs, 3)).toThrow(/class 2 .*got 0 positive and 4 negative/);
    expect(() => rocAucOneVsRest([0, 1, 2], probs, 3)).toThrow('probs must hold yTrue.length × numClasses = 3 × 3 = 9 values, got 12');
  });
});

describe('argmaxRows', () => {
  it('picks the largest column per row, the first on ties', () => {
    expect(Array.from(argmaxRows(new Float32Array([1, 3, 2, 5, 5, 0, -2, -1, -3]), 3, 3))).toEqual([1, 0, 1]);
  });

  it('rejects a size mismatch and NaN', () => {
    expect(() => argmaxRows(new Float32Array(5), 2, 3)).toThrow('values must hold rows × cols = 2 × 3 = 6 values, got 5');
    expect(() => argmaxRows(new Float32Array([0, NaN]), 1, 2)).toThrow('values[1] is NaN');
  });
});
