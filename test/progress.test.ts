import { describe, expect, it } from 'vitest';
import { ValueError } from '../ts/errors.js';
import { ProgressBar, formatDuration, formatProgress } from '../ts/train/progress.js';

describe('formatProgress', () => {
  it('renders the Keras-style line with ETA, values and throughput', () => {
    // 27.2 s for 312 steps → 470 steps left take 27.2 / 312 · 470 ≈ 40.97 s; 30 · 312 / 782 → 11 bar cells.
    const line = formatProgress({
      step: 312,
      total: 782,
      epoch: 3,
      epochs: 10,
      values: { loss: 1.23449, accuracy: 0.55123 },
      imagesPerSecond: 1230.4,
      elapsedSeconds: 27.2,
    });
    expect(line).toBe(
      `Epoch 3/10  312/782 [${'='.repeat(10)}>${'.'.repeat(19)}] - ETA: 41s - loss: 1.2345 - accuracy: 0.5512 - 1,230 img/s`,
    );
  });

  it('pads the step, shows an empty bar and no ETA before the first step', () => {
    expect(formatProgress({ step: 0, total: 782, epoch: 1, epochs: 2, elapsedSeconds: 0, width: 10 })).toBe(
      'Epoch 1/2    0/782 [..........] - ETA: --',
    );
    expect(formatProgress({ step: 5, total: 782, epoch: 1, epochs: 2, elapsedSeconds: 1, width: 10 })).toBe(
      'Epoch 1/2    5/782 [..........] - ETA: 2:35',
    );
  });

  it('prints the finished line with the elapsed time and a full bar', () => {
    const line = formatProgress({ step: 4, total: 4, epoch: 2, epochs: 2, elapsedSeconds: 125, width: 8, finished: true, values: { loss: 0 } });
    expect(line).toBe('Epoch 2/2  4/4 [========] - 2:05 - loss: 0.0000');
  });

  it('formats tiny values in scientific notation and NaN as nan', () => {
    const line = formatProgress({ step: 1, total: 2, epoch: 1, epochs: 1, elapsedSeconds: 3, width: 4, values: { lr: 0.000123, loss: NaN } });
    expect(line).toBe('Epoch 1/1  1/2 [=>..] - ETA: 3s - lr: 1.2300e-4 - loss: nan');
  });

  it('formats durations as s, m:ss and h:mm:ss', () => {
    expect([formatDuration(59.4), formatDuration(60), formatDuration(3725)]).toEqual(['59s', '1:00', '1:02:05']);
  });

  it('rejects a step beyond the total, non-number values and bad throughput', () => {
    const base = { total: 4, epoch: 1, epochs: 1, elapsedSeconds: 1 };
    expect(() => formatProgress({ ...base, step: 5 })).toThrow('step must be an integer in [0, 4], got number 5');
    expect(() => formatProgress({ ...base, step: 1, values: { loss: '1' as unknown as number } })).toThrow(ValueError);
    expect(() => formatProgress({ ...base, step: 1, imagesPerSecond: Infinity })).toThrow('imagesPerSecond must be a finite number');
  });
});

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (text: string) => writes.push(text) } };
}

describe('ProgressBar', () => {
  it('redraws in place on a TTY, at most every 50 ms, and ends with the final line', () => {
    const { writes, stream } = fakeStream(true);
    let ms = 1000;
    const bar = new ProgressBar({ total: 4, epoch: 1, epochs: 3, stream, width: 4, now: () => ms });
    ms = 2000;
    bar.update(1, { loss: 2.5 }, 64);
    ms = 2010; // within 50 ms of the last draw: skipped
    bar.update(2, { loss: 2 }, 64);
    ms = 3000;
    bar.update(3, { loss: 1.5 }, 64);
    ms = 5000;
    bar.finish({ loss: 1.25, accuracy: 0.5 });
    expect(writes).toEqual([
      '\rEpoch 1/3  1/4 [>...] - ETA: 3s - loss: 2.5000 - 64 img/s',
      '\rEpoch 1/3  3/4 [==>.] - ETA: 1s - loss: 1.5000 - 64 img/s',
      '\rEpoch 1/3  4/4 [====] - 4s - loss: 1.2500 - accuracy: 0.5000 - 64 img/s',
      '\n',
    ]);
  });

  it('clears the rest of a longer previous line with spaces', () => {
    const { writes, stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 2, epoch: 1, epochs: 1, stream, width: 2, now: () => 0 });
    bar.update(1, { loss: 123456.5 });
    bar.finish({});
    const longer = 'Epoch 1/1  1/2 [>.] - ETA: 0s - loss: 123456.5000';
    const shorter = 'Epoch 1/1  2/2 [==] - 0s';
    expect(writes).toEqual([`\r${longer}`, `\r${shorter}${' '.repeat(longer.length - shorter.length)}`, '\n']);
  });

  it('prints only the final line when the stream is not a terminal', () => {
    const { writes, stream } = fakeStream(false);
    const bar = new ProgressBar({ total: 3, epoch: 2, epochs: 2, stream, width: 3, now: () => 0 });
    for (let step = 1; step <= 3; step++) bar.update(step, { loss: 1 }, 10);
    expect(writes).toEqual([]);
    bar.finish({ loss: 0.5 });
    expect(writes).toEqual(['Epoch 2/2  3/3 [===] - 0s - loss: 0.5000 - 10 img/s', '\n']);
  });

  it('rejects bad options, a step beyond the total and use after finish', () => {
    const { stream } = fakeStream(false);
    expect(() => new ProgressBar({ total: 0, epoch: 1, epochs: 1, stream })).toThrow('new ProgressBar(): total must be an integer ≥ 1, got number 0');
    expect(() => new ProgressBar({ total: 5, epoch: 4, epochs: 3, stream })).toThrow('epoch must be an integer in [1, 3]');
    const bar = new ProgressBar({ total: 5, epoch: 1, epochs: 1, stream });
    expect(() => bar.update(6)).toThrow('ProgressBar.update(): step must be an integer in [0, 5], got number 6');
    bar.finish();
    expect(() => bar.finish()).toThrow('already finished');
  });
});
