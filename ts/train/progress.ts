/** A Keras-style per-epoch progress bar for terminals; `formatProgress` is the pure string part. */
import { ValueError, describe } from '../errors.js';

export interface ProgressLine {
  step: number;
  total: number;
  epoch: number;
  epochs: number;
  /** Shown in insertion order, e.g. { loss: 1.2345, accuracy: 0.55 }. */
  values?: Record<string, number>;
  imagesPerSecond?: number;
  elapsedSeconds: number;
  /** Bar characters between the brackets (default 30). */
  width?: number;
  /** The epoch's last line: elapsed time instead of the ETA. */
  finished?: boolean;
}

/** Something to write lines to; `process.stderr` fits. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressBarOptions {
  total: number;
  epoch: number;
  epochs: number;
  /** Default `process.stderr`. */
  stream?: ProgressStream;
  width?: number;
  /** Milliseconds, for tests; default `performance.now`. */
  now?: () => number;
}

function checkInteger(op: string, name: string, value: unknown, min: number, max = Infinity): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    const range = max === Infinity ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new ValueError(`${op}: ${name} must be ${range}, got ${describe(value)}`);
  }
  return value as number;
}

/** 41s, 2:05, 1:02:05. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/** Four decimals, or scientific notation for tiny magnitudes, as Keras prints metrics. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === 0 || Math.abs(value) >= 1e-3 || !Number.isFinite(value)) return value.toFixed(4);
  return value.toExponential(4);
}

/** `Epoch 3/10  312/782 [==========>...................] - ETA: 41s - loss: 1.2345 - 1,230 img/s` */
export function formatProgress(line: ProgressLine): string {
  const { step, total, epoch, epochs, values = {}, imagesPerSecond, elapsedSeconds, width = 30, finished = false } = line;
  const op = 'formatProgress()';
  checkInteger(op, 'total', total, 1);
  checkInteger(op, 'step', step, 0, total);
  checkInteger(op, 'width', width, 1);
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'number') throw new ValueError(`${op}: values.${name} must be a number, got ${describe(value)}`);
  }
  if (imagesPerSecond !== undefined && !(Number.isFinite(imagesPerSecond) && imagesPerSecond >= 0)) {
    throw new ValueError(`${op}: imagesPerSecond must be a finite number ≥ 0, got ${describe(imagesPerSecond)}`);
  }
  const filled = Math.floor((width * step) / total);
  const bar = filled > 0 ? '='.repeat(filled - 1) + (step < total ? '>' : '=') : '';
  const counter = `${String(step).padStart(String(total).length)}/${total}`;
  const parts = [`Epoch ${epoch}/${epochs}  ${counter} [${bar}${'.'.repeat(width - filled)}]`];
  if (finished) parts.push(formatDuration(elapsedSeconds));
  else parts.push(`ETA: ${step > 0 ? formatDuration((elapsedSeconds / step) * (total - step)) : '--'}`);
  for (const [name, value] of Object.entries(values)) parts.push(`${name}: ${formatValue(value)}`);
  if (imagesPerSecond !== undefined) parts.push(`${Math.round(imagesPerSecond).toLocaleString('en-US')} img/s`);
  return parts.join(' - ');
}


/** Redraw at most this often on a terminal (the last step always draws). */
const REDRAW_INTERVAL_MS = 50;

/**
 * One epoch's bar: on a TTY it redraws in place with \r; elsewhere (logs, CI) it prints only the final line,
 * so logs get one line per epoch.
 */
export class ProgressBar {
  private readonly total: number;
  private readonly epoch: number;
  private readonly epochs: number;
  private readonly width: number;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly startMs: number;
  private lastDrawMs = -Infinity;
  private lastLength = 0;
  private step = 0;
  private imagesPerSecond: number | undefined;
  private finished = false;

  constructor(options: ProgressBarOptions) {
    const op = 'new ProgressBar()';
    this.total = checkInteger(op, 'total', options.total, 1);
    this.epochs = checkInteger(op, 'epochs', options.epochs, 1);
    this.epoch = checkInteger(op, 'epoch', options.epoch, 1, this.epochs);
    this.width = checkInteger(op, 'width', options.width ?? 30, 1);
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.startMs = this.now();
  }

  /** Record progress after `step` of `total` steps and redraw on a terminal. */
  update(step: number, values: Record<string, number> = {}, imagesPerSecond?: number): void {
    this.assertOpen('update');
    this.step = checkInteger('ProgressBar.update()', 'step', step, 0, this.total);
    this.imagesPerSecond = imagesPerSecond;
    const nowMs = this.now();
    if (!this.stream.isTTY || (nowMs - this.lastDrawMs < REDRAW_INTERVAL_MS && step < this.total)) return;
    this.lastDrawMs = nowMs;
    this.draw(this.line(values, false, nowMs));
  }

  /** Print the epoch's final line (full bar, elapsed time, `values`) and end it with a newline. */
  finish(values: Record<string, number> = {}, imagesPerSecond = this.imagesPerSecond): void {
    this.assertOpen('finish');
    this.finished = true;
    this.step = this.total;
    this.imagesPerSecond = imagesPerSecond;
    this.draw(this.line(values, true, this.now()));
    this.stream.write('\n');
  }

  private assertOpen(method: string): void {
    if (this.finished) throw new ValueError(`ProgressBar.${method}(): the bar for epoch ${this.epoch} is already finished`);
  }

  private line(values: Record<string, number>, finished: boolean, nowMs: number): string {
    return formatProgress({
      step: this.step,
      total: this.total,
      epoch: this.epoch,
      epochs: this.epochs,
      values,
      imagesPerSecond: this.imagesPerSecond,
      elapsedSeconds: (nowMs - this.startMs) / 1000,
      width: this.width,
      finished,
    });
  }

  /** On a TTY, overwrite the previous line (spaces clear a longer one); elsewhere just write. */
  private draw(text: string): void {
    if (!this.stream.isTTY) {
      this.stream.write(text);
      return;
    }
    this.stream.write(`\r${text}${' '.repeat(Math.max(0, this.lastLength - text.length))}`);
    this.lastLength = text.length;
  }
}
