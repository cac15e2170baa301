/**
 * `kiln train cifar10`: the flagship pipeline. Trains the Keras tutorial CNN (or ResNet-20) on CIFAR-10 with Adam
 * and sparse categorical cross-entropy from logits, evaluates on the test set (accuracy, per-class F1, ROC AUC,
 * confusion matrix), saves the model file, reloads it and confirms its test accuracy, and writes an HTML report.
 * With --checkpoint it saves a resumable checkpoint every epoch (and on SIGINT / SIGTERM); --resume continues.
 * Without a dataset (none found, no network) it says so and trains on a small synthetic set instead.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as kiln from '../index.node.js';
import { augmentBatch, loadCifar10, syntheticCifarLike, CIFAR10_CLASS_NAMES, SYNTHETIC_CLASS_NAMES, type ImageSet } from '../data/cifar10.js';
import { DataError } from '../data/errors.js';
import { ProgressBar } from '../train/progress.js';
import { trainingReportHtml, type EpochRecord } from '../train/report.js';
import { evaluateOnTest, imageSource, INFERENCE_BATCH } from './evaluation.js';

export interface TrainCifar10Options {
  model: 'cnn' | 'resnet20';
  epochs: number;
  batchSize: number;
  learningRate: number;
  dataDir?: string;
  download: boolean;
  trainLimit?: number;
  testLimit?: number;
  augment: boolean;
  threads?: number;
  seed: number;
  report: string;
  /** The trained model file (default cifar10-<model>.kiln). */
  output?: string;
  /** Folder of the resumable checkpoint. */
  checkpoint?: string;
  /** Also checkpoint every N batches. */
  checkpointEvery?: number;
  resume: boolean;
  /** Synthetic examples for the demonstration when no dataset is available. */
  demoCount: number;
}

const log = (line = '') => process.stdout.write(`${line}\n`);

function progressCallback(epochs: number): kiln.Callback {
  let bar: ProgressBar | null = null;
  let started = 0;
  let rate = 0;
  return {
    onEpochBegin(epoch, { steps }) {
      bar = new ProgressBar({ total: steps, epoch: epoch + 1, epochs });
      started = performance.now();
    },
    onBatchEnd(step, { examples, ...values }) {
      rate = examples / ((performance.now() - started) / 1000);
      bar!.update(step + 1, values, rate);
    },
    onEpochEnd(_epoch, logs) {
      bar!.finish(logs, rate);
    },
  };
}

/** Saves a checkpoint and stops after the current batch when SIGINT or SIGTERM arrives (with --checkpoint). */
function interruptible(path: string | null) {
  let signal: NodeJS.Signals | null = null;
  const onSignal = (s: NodeJS.Signals) => {
    if (!path || signal) process.exit(s === 'SIGINT' ? 130 : 143); // a second signal, or nothing to save: stop now
    signal = s;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let model: kiln.Model;
  const saveAndStop = async () => {
    if (!signal || !path || model.stopTraining) return;
    await kiln.saveCheckpoint(model, path);
    model.stopTraining = true;
  };
  // Checked after each batch and after each epoch's validation (a signal may arrive during either).
  const callback: kiln.Callback = {
    setModel(m) {
      model = m;
    },
    onBatchEnd: saveAndStop,
    onEpochEnd: saveAndStop,
  };
  return {
    callback,
    get signal() {
      return signal;
    },
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function loadData(options: TrainCifar10Options) {
  try {
    const data = await loadCifar10({
      dir: options.dataDir,
      download: options.download,
      trainLimit: options.trainLimit,
      testLimit: options.testLimit,
      onProgress: downloadProgress(),
    });
    return { ...data, title: `CIFAR-10 (${data.train.count} train / ${data.test.count} test images from ${data.source})`, dataset: 'CIFAR-10' };
  } catch (error) {
    if (!(error instanceof DataError)) throw error;
    log(`No CIFAR-10 dataset: ${error.message}`);
    log(`Running a short demonstration on ${options.demoCount} synthetic 32×32 images instead.`);
    const train: ImageSet = syntheticCifarLike(options.demoCount, options.seed);
    const test: ImageSet = syntheticCifarLike(Math.ceil(options.demoCount / 5), options.seed + 1);
    return { train, test, classNames: SYNTHETIC_CLASS_NAMES, title: `Synthetic demonstration (${train.count} train / ${test.count} test images)`, dataset: 'synthetic' };
  }
}

export async function trainCifar10(options: TrainCifar10Options): Promise<void> {
  const info = await kiln.ready(options.threads ? { threads: options.threads } : {});
  log(`kiln backend: ${info.backend} ${info.variant}, ${info.threads} thread(s)${info.reason ? ` (${info.reason})` : ''}`);
  const { train, test, classNames, title, dataset } = await loadData(options);
  log(title);

  const model = options.model === 'resnet20' ? kiln.models.resnet20({ seed: options.seed }) : kiln.cifar10Cnn({ seed: options.seed });
  log(model.summary());
  model.compile({
    optimizer: new kiln.Adam({ learningRate: options.learningRate }),
    loss: 'sparseCategoricalCrossentropy',
    fromLogits: true,
    metrics: ['accuracy'],
  });

  const checkpoint = options.checkpoint ? join(options.checkpoint, `cifar10-${options.model}.ckpt`) : null;
  if (options.checkpoint) mkdirSync(options.checkpoint, { recursive: true });
  let resume: kiln.TrainingPosition | undefined;
  if (options.resume) {
    if (!checkpoint) throw new kiln.ValueError('--resume needs --checkpoint DIR');
    if (existsSync(checkpoint)) {
      resume = await kiln.restoreCheckpoint(model, checkpoint);
      log(`resuming from ${checkpoint}: epoch ${resume.epoch + 1}, batch ${resume.step + 1}`);
    } else {
      log(`no checkpoint at ${checkpoint} yet: starting from the beginning`);
    }
  }

  const interrupt = interruptible(checkpoint);
  const started = performance.now();
  const epochSeconds: number[] = [];
  let epochStart = started;
  const augment = options.augment ? (x: Uint8Array, count: number, seed: number) => augmentBatch(x, count, { seed }) : undefined;
  const history = await model.fit(imageSource(train, augment, options.seed), undefined, {
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed,
    validationData: [imageSource(test)],
    validationBatchSize: INFERENCE_BATCH,
    resume,
    callbacks: [
      progressCallback(options.epochs),
      {
        onEpochEnd() {
          const now = performance.now();
          epochSeconds.push((now - epochStart) / 1000);
          epochStart = now;
        },
      },
      ...(checkpoint ? [kiln.modelCheckpoint(checkpoint, { everyBatches: options.checkpointEvery })] : []),
      interrupt.callback,
    ],
  });
  interrupt.release();
  if (interrupt.signal) {
    log(`\n${interrupt.signal}: checkpoint saved to ${checkpoint}; continue with --resume`);
    model.dispose();
    process.exitCode = interrupt.signal === 'SIGINT' ? 130 : 143;
    return;
  }
  const trainSeconds = (performance.now() - started) / 1000;

  log();
  const evaluation = await evaluateOnTest(model, test, classNames ?? CIFAR10_CLASS_NAMES);
  const epochsRun = epochSeconds.length;
  const timing = `training: ${epochsRun} epochs in ${trainSeconds.toFixed(1)} s (${epochSeconds.map((s) => s.toFixed(1)).join(', ')} s per epoch)${resume ? ` after resuming at epoch ${resume.epoch + 1}` : ''}, batch ${options.batchSize}, ${info.variant} with ${info.threads} thread(s)`;
  log(timing);

  const output = options.output ?? `cifar10-${options.model}.kiln`;
  await model.save(output, {
    metadata: { classNames, dataset, inputScale: 1 / 255, inputLayout: 'NHWC', outputs: 'logits', trainedEpochs: options.epochs, seed: options.seed },
  });
  const reloaded = await kiln.load(output);
  reloaded.compile({ loss: 'sparseCategoricalCrossentropy', fromLogits: true, metrics: ['accuracy'] });
  const check = await reloaded.evaluate(imageSource(test), undefined, { batchSize: INFERENCE_BATCH });
  const same = (check.accuracy * 100).toFixed(2) === (evaluation.accuracy * 100).toFixed(2);
  log(`saved ${output}; reloaded, its test accuracy is ${(check.accuracy * 100).toFixed(2)} %${same ? ', as trained' : ` — DIFFERENT from ${(evaluation.accuracy * 100).toFixed(2)} %`}`);
  reloaded.dispose();
  if (!same) process.exitCode = 1;

  const records: EpochRecord[] = history.epoch.map((epoch, i) => ({
    epoch: epoch + 1,
    loss: history.history.loss[i],
    accuracy: history.history.accuracy?.[i],
    valLoss: history.history.val_loss?.[i],
    valAccuracy: history.history.val_accuracy?.[i],
  }));
  writeFileSync(options.report, trainingReportHtml(records, { title, lines: [...evaluation.lines, timing], confusion: evaluation.confusion, classNames }));
  log(`report: ${options.report}`);
  model.dispose();
}

function downloadProgress() {
  let last = 0;
  return (received: number, total: number) => {
    const now = performance.now();
    if (now - last < 500 && received !== total) return;
    last = now;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    process.stderr.write(`\rdownloading CIFAR-10: ${mb(received)}${total ? ` / ${mb(total)}` : ''} MB`);
    if (received === total) process.stderr.write('\n');
  };
}
