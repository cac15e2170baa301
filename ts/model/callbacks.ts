/**
 * Callbacks for fit(), Keras' set: each hook may be async and is awaited. A callback stops training by setting
 * `model.stopTraining`; fit() then ends after the current batch.
 */
import { ValueError, describe } from '../errors.js';
import { saveCheckpoint } from '../io/checkpoint.js';
import type { Model } from './model.js';

export type Logs = Record<string, number>;

export interface Callback {
  /** Called once before training with the model being trained. */
  setModel?(model: Model): void;
  onTrainBegin?(): void | Promise<void>;
  onEpochBegin?(epoch: number, info: { steps: number }): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs & { examples: number }): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
  /**
   * A batch's loss or gradients were not finite (the step was not applied). Return 'stop' to end training
   * quietly; otherwise fit() throws NonFiniteLossError.
   */
  onNonFinite?(epoch: number, batch: number): 'stop' | void;
}

type Mode = 'min' | 'max' | 'auto';

/** Whether `value` improves on `best` by more than `minDelta` for a metric watched in `mode`. */
function improves(monitor: string, mode: Mode, value: number, best: number, minDelta: number): boolean {
  const higherIsBetter = mode === 'max' || (mode === 'auto' && /acc|auc|f1|precision|recall/.test(monitor));
  return higherIsBetter ? value > best + minDelta : value < best - minDelta;
}

function checkMonitor(op: string, monitor: unknown, mode: unknown): void {
  if (typeof monitor !== 'string' || monitor === '') throw new ValueError(`${op}: monitor must be a log name such as 'val_loss', got ${describe(monitor)}`);
  if (mode !== 'min' && mode !== 'max' && mode !== 'auto') throw new ValueError(`${op}: mode must be 'min', 'max' or 'auto', got ${describe(mode)}`);
}

export interface EarlyStoppingOptions {
  monitor?: string;
  mode?: Mode;
  /** Epochs without improvement before stopping (default 0). */
  patience?: number;
  minDelta?: number;
  /** Put back the weights (and batch-norm statistics) of the best epoch when training ends. */
  restoreBestWeights?: boolean;
}

/** Stops when `monitor` (default 'val_loss') has not improved for `patience` epochs. */
export function earlyStopping(options: EarlyStoppingOptions = {}): Callback & { stoppedEpoch: number | null; bestEpoch: number | null } {
  const { monitor = 'val_loss', mode = 'auto', patience = 0, minDelta = 0, restoreBestWeights = false } = options;
  checkMonitor('earlyStopping()', monitor, mode);
  if (!Number.isInteger(patience) || patience < 0) throw new ValueError(`earlyStopping(): patience must be a non-negative integer, got ${describe(patience)}`);
  let model: Model;
  let best = NaN;
  let wait = 0;
  let bestValues: Float32Array[] | null = null;
  const self = {
    stoppedEpoch: null as number | null,
    bestEpoch: null as number | null,
    setModel(m: Model) {
      model = m;
    },
    onTrainBegin() {
      best = NaN;
      wait = 0;
      bestValues = null;
      self.stoppedEpoch = self.bestEpoch = null;
    },
    async onEpochEnd(epoch: number, logs: Logs) {
      const value = logs[monitor];
      if (value === undefined) throw new ValueError(`earlyStopping(): monitor '${monitor}' is not among the logs (${Object.keys(logs).join(', ')})`);
      if (Number.isNaN(best) || improves(monitor, mode, value, best, Math.abs(minDelta))) {
        best = value;
        wait = 0;
        self.bestEpoch = epoch;
        if (restoreBestWeights) bestValues = await Promise.all(stateTensors(model).map((t) => t.data() as Promise<Float32Array>));
      } else if (++wait > patience) {
        self.stoppedEpoch = epoch;
        model.stopTraining = true;
      }
    },
    onTrainEnd() {
      if (!bestValues) return;
      stateTensors(model).forEach((t, i) => t.backend.write(t.storage, bestValues![i]));
    },
  };
  return self;
}

/** Every weight and saved state tensor of a model's layers. */
function stateTensors(model: Model) {
  return model.layers.flatMap((l) => [...l.weights, ...l.state]);
}

export interface ReduceLROnPlateauOptions {
  monitor?: string;
  mode?: Mode;
  /** Multiplies the learning rate (default 0.1). */
  factor?: number;
  patience?: number;
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again. */
  cooldown?: number;
  /** Never scale the learning rate below this. */
  minLr?: number;
}

/** Scales the optimizer's learning rate by `factor` when `monitor` has not improved for `patience` epochs. */
export function reduceLROnPlateau(options: ReduceLROnPlateauOptions = {}): Callback {
  const { monitor = 'val_loss', mode = 'auto', factor = 0.1, patience = 10, minDelta = 1e-4, cooldown = 0, minLr = 0 } = options;
  checkMonitor('reduceLROnPlateau()', monitor, mode);
  if (!(factor > 0 && factor < 1)) throw new ValueError(`reduceLROnPlateau(): factor must be in (0, 1), got ${describe(factor)}`);
  let model: Model;
  let best = NaN;
  let wait = 0;
  let coolingDown = 0;
  return {
    setModel(m) {
      model = m;
    },
    onEpochEnd(_epoch, logs) {
      const value = logs[monitor];
      if (value === undefined) throw new ValueError(`reduceLROnPlateau(): monitor '${monitor}' is not among the logs (${Object.keys(logs).join(', ')})`);
      const optimizer = model.optimizer!;
      if (coolingDown > 0) coolingDown--;
      if (Number.isNaN(best) || improves(monitor, mode, value, best, minDelta)) {
        best = value;
        wait = 0;
      } else if (coolingDown === 0 && ++wait >= patience) {
        const lr = optimizer.currentLearningRate();
        if (lr > minLr) optimizer.learningRateScale *= Math.max(factor, minLr / lr);
        coolingDown = cooldown;
        wait = 0;
      }
    },
  };
}

/** Ends training quietly (no error) at the first batch whose loss or gradients are not finite. */
export function terminateOnNaN(): Callback & { stoppedAt: { epoch: number; batch: number } | null } {
  const self = {
    stoppedAt: null as { epoch: number; batch: number } | null,
    onNonFinite(epoch: number, batch: number) {
      self.stoppedAt = { epoch, batch };
      return 'stop' as const;
    },
  };
  return self;
}

/**
 * Writes the history after every epoch, as CSV (epoch and one column per log) or JSON ({ epoch, history }),
 * through `write(text)`: e.g. to a file in Node (`(t) => fs.writeFileSync('log.csv', t)`) or to a page.
 */
export function historyLogger(write: (text: string) => void | Promise<void>, options: { format?: 'csv' | 'json' } = {}): Callback {
  const { format = 'csv' } = options;
  if (typeof write !== 'function') throw new ValueError(`historyLogger(): write must be a function taking the text, got ${describe(write)}`);
  if (format !== 'csv' && format !== 'json') throw new ValueError(`historyLogger(): format must be 'csv' or 'json', got ${describe(format)}`);
  const rows: { epoch: number; logs: Logs }[] = [];
  return {
    onTrainBegin() {
      rows.length = 0;
    },
    async onEpochEnd(epoch, logs) {
      rows.push({ epoch, logs: { ...logs } });
      if (format === 'json') {
        const history: Record<string, number[]> = {};
        for (const r of rows) for (const [k, v] of Object.entries(r.logs)) (history[k] ??= []).push(v);
        await write(JSON.stringify({ epoch: rows.map((r) => r.epoch), history }));
        return;
      }
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r.logs)))];
      await write([['epoch', ...keys].join(','), ...rows.map((r) => [r.epoch, ...keys.map((k) => r.logs[k] ?? '')].join(','))].join('\n') + '\n');
    },
  };
}

export interface ModelCheckpointOptions {
  /** Also save every this many batches (mid-epoch resumes lose less). */
  everyBatches?: number;
  /** Save only when `monitor` improves (at epoch ends). */
  saveBestOnly?: boolean;
  monitor?: string;
  mode?: Mode;
}

/**
 * Saves a resumable checkpoint (weights, optimizer state, position, random state) to `target` at each epoch's
 * end, atomically; restore it with `kiln.restoreCheckpoint(model, target)` and `fit(..., { resume })`.
 */
export function modelCheckpoint(target: string, options: ModelCheckpointOptions = {}): Callback {
  const { everyBatches, saveBestOnly = false, monitor = 'val_loss', mode = 'auto' } = options;
  checkMonitor('modelCheckpoint()', monitor, mode);
  if (everyBatches !== undefined && !(Number.isInteger(everyBatches) && everyBatches > 0)) {
    throw new ValueError(`modelCheckpoint(): everyBatches must be a positive integer, got ${describe(everyBatches)}`);
  }
  let model: Model;
  let best = NaN;
  let batches = 0;
  return {
    setModel(m) {
      model = m;
    },
    async onBatchEnd() {
      if (everyBatches && ++batches % everyBatches === 0) await saveCheckpoint(model, target);
    },
    async onEpochEnd(_epoch, logs) {
      if (saveBestOnly) {
        const value = logs[monitor];
        if (value === undefined) throw new ValueError(`modelCheckpoint(): monitor '${monitor}' is not among the logs (${Object.keys(logs).join(', ')})`);
        if (!Number.isNaN(best) && !improves(monitor, mode, value, best, 0)) return;
        best = value;
      }
      await saveCheckpoint(model, target);
    },
  };
}
