/**
 * Checkpoints that resume: one safetensors file with the model's tensors, the optimizer's state tensors
 * (`optimizer/<weight>/<slot>`), and in __metadata__ the topology, the optimizer's step and rate scale, the
 * position in training (epoch, next batch, the epoch's sums so far, the history) and each dropout layer's
 * random state. Training is bit-deterministic, so a run resumed from one ends exactly as an uninterrupted run.
 */
import { ModelFormatError, ValueError } from '../errors.js';
import { Dropout } from '../layers/core.js';
import type { Model } from '../model/model.js';
import type { TrainingPosition } from '../model/training.js';
import type { Tensor } from '../tensor.js';
import { namedTensors } from './model-file.js';
import { parseJson, readSafetensors, writeSafetensors } from './safetensors.js';
import { sha256Hex } from './sha256.js';
import { loadBytes, saveBytes, type ModelSource } from './sources.js';

export const CHECKPOINT_FORMAT = 'kiln-checkpoint';
const CHECKPOINT_VERSION = '1.0';

interface CheckpointState {
  optimizer: { name: string; iterations: number; learningRateScale: number };
  position: TrainingPosition;
  dropout: Record<string, number>;
  /** Names and shapes of the model's tensors, so a checkpoint is only restored into the model it came from. */
  signature: string;
}

function optimizerOf(op: string, model: Model) {
  const optimizer = model.optimizer;
  if (!optimizer) throw new ValueError(`${op}: compile() the model first (the checkpoint holds the optimizer's state)`);
  return optimizer;
}

/** Every tensor a checkpoint holds, named: the model's, then the optimizer's slots per weight. */
function checkpointTensors(model: Model): { name: string; tensor: Tensor }[] {
  const optimizer = optimizerOf('checkpoint', model);
  const named = namedTensors(model);
  const weights = model.weights;
  const slots = optimizer.slots(weights);
  const perWeight = slots.length / Math.max(1, weights.length);
  const weightName = (w: Tensor) => named.find((n) => n.tensor === w)!.name;
  return [...named, ...slots.map((t, i) => ({ name: `optimizer/${weightName(weights[Math.floor(i / perWeight)])}/${i % perWeight}`, tensor: t }))];
}

const signatureOf = (tensors: { name: string; tensor: Tensor }[]) => tensors.map(({ name, tensor }) => `${name}[${tensor.shape}]`).join(';');

export async function checkpointBytes(model: Model): Promise<Uint8Array> {
  const op = 'saveCheckpoint()';
  const optimizer = optimizerOf(op, model);
  const position = model.trainingPosition ?? { epoch: 0, step: 0, lossSum: 0, seen: 0, confusion: [], history: { epoch: [], history: {} } };
  const tensors = checkpointTensors(model);
  const dropout: Record<string, number> = {};
  for (const layer of model.layers) if (layer instanceof Dropout) dropout[layer.name!] = layer.randomState;
  const state: CheckpointState = {
    optimizer: { name: optimizer.name, iterations: optimizer.iterations, learningRateScale: optimizer.learningRateScale },
    position,
    dropout,
    signature: signatureOf(tensors),
  };
  const entries = await Promise.all(
    tensors.map(async ({ name, tensor }) => {
      const values = await tensor.data();
      return { name, dtype: 'F32' as const, shape: tensor.shape, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
    }),
  );
  return writeSafetensors(entries, {
    format: CHECKPOINT_FORMAT,
    format_version: CHECKPOINT_VERSION,
    state: JSON.stringify(state),
    sha256: sha256Hex(...entries.map((e) => e.bytes)),
  });
}

/** Saves a checkpoint of a compiled model (atomically, like `model.save`). */
export async function saveCheckpoint(model: Model, target: string): Promise<void> {
  await saveBytes(target, await checkpointBytes(model));
}

/**
 * Puts a checkpoint's weights, optimizer state and random state into `model` (compiled, the same topology)
 * and returns where training was: pass it to `fit(..., { resume })`. Everything is validated first: a bad
 * checkpoint changes nothing.
 */
export async function restoreCheckpoint(model: Model, source: ModelSource): Promise<TrainingPosition> {
  const fail = (message: string): never => {
    throw new ModelFormatError(`checkpoint: ${message}`);
  };
  const file = readSafetensors(await loadBytes(source), 'checkpoint');
  const { metadata } = file;
  if (metadata.format !== CHECKPOINT_FORMAT) fail(`__metadata__.format must be '${CHECKPOINT_FORMAT}', got ${JSON.stringify(metadata.format)}`);
  if (metadata.format_version?.split('.')[0] !== CHECKPOINT_VERSION.split('.')[0]) fail(`version ${JSON.stringify(metadata.format_version)} is not readable by this kiln`);
  if (metadata.sha256 !== sha256Hex(file.data)) fail('the tensor bytes do not match their SHA-256: the file is corrupted');
  const state = parseJson(metadata.state ?? '', 'checkpoint state') as CheckpointState;
  const optimizer = optimizerOf('restoreCheckpoint()', model);
  const tensors = checkpointTensors(model);
  if (state?.signature !== signatureOf(tensors)) fail("it was saved from a model with other layers or weights, or with another optimizer's state");
  if (state.optimizer?.name !== optimizer.name) fail(`it holds ${state.optimizer?.name} state, the model is compiled with ${optimizer.name}`);
  const p = state.position;
  if (!(Number.isInteger(p?.epoch) && Number.isInteger(p.step) && typeof p.lossSum === 'number' && Number.isInteger(p.seen) && Array.isArray(p.confusion) && typeof p.history === 'object')) {
    fail('its training position is malformed');
  }
  for (const { name } of tensors) if (!file.tensors.has(name)) fail(`tensor '${name}' is missing`);
  for (const { name, tensor } of tensors) {
    const entry = file.tensors.get(name)!;
    if (entry.dtype !== 'F32') fail(`tensor '${name}' is ${entry.dtype}, expected F32`);
    tensor.backend.write(tensor.storage, new Float32Array(entry.bytes.slice().buffer));
  }
  optimizer.restoreIterations(state.optimizer.iterations);
  optimizer.learningRateScale = state.optimizer.learningRateScale;
  for (const layer of model.layers) if (layer instanceof Dropout) layer.randomState = state.dropout[layer.name!] ?? 0;
  return p;
}
