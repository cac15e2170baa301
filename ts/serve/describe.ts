/** What a kiln model looks like to a serving protocol, and the model run in-process (the fetch handler's way). */
import type { Model } from '../model/model.js';
import { tensor } from '../ops/creation.js';
import type { ModelCatalog, ServedModel, TensorSpec } from './protocols/tensors.js';

export type ModelDescription = Pick<ServedModel, 'inputs' | 'outputs' | 'classNames' | 'inputScale' | 'outputsAreProbabilities'>;

export function describeModel(model: Model): ModelDescription {
  const inputs: TensorSpec[] = model.inputs.map((t, i) => ({ name: model.graph.inputNames[i], shape: [...t.shape] }));
  const outputs: TensorSpec[] = model.outputs.map((t, i) => ({ name: t.node.layer?.name ?? `output_${i}`, shape: [...t.shape] }));
  const { classNames, inputScale, outputs: kind } = model.metadata;
  const classes = outputs.length === 1 && outputs[0].shape.length === 1 ? outputs[0].shape[0] : -1;
  return {
    inputs,
    outputs,
    classNames: Array.isArray(classNames) && classNames.length === classes ? classNames.map(String) : undefined,
    inputScale: typeof inputScale === 'number' ? inputScale : 1 / 255,
    outputsAreProbabilities: kind === 'probabilities',
  };
}

/** One batch through the model, synchronously: float32 arrays in, float32 arrays out, every tensor freed. */
export async function runBatch(model: Model, inputs: Float32Array[], rows: number): Promise<Float32Array[]> {
  const tensors = inputs.map((data, i) => tensor(data, [rows, ...model.inputs[i].shape]));
  try {
    const out = model.predictOnBatch(tensors.length === 1 ? tensors[0] : tensors);
    const outputs = Array.isArray(out) ? out : [out];
    try {
      return await Promise.all(outputs.map(async (t) => new Float32Array((await t.data()) as Float32Array)));
    } finally {
      for (const t of outputs) t.dispose();
    }
  } finally {
    for (const t of tensors) t.dispose();
  }
}

export interface InProcessModel {
  model: Model;
  version?: number;
}

/** A catalog over models held by the caller, run on this thread one request at a time (no batching). */
export function inProcessCatalog(models: Record<string, Model | InProcessModel>, maxBatchSize = 64): ModelCatalog {
  const served = new Map<string, ServedModel>();
  for (const [name, entry] of Object.entries(models)) {
    const { model, version = 1 } = (entry as Model).graph ? { model: entry as Model } : (entry as InProcessModel);
    served.set(name, { name, version, maxBatchSize, ...describeModel(model), infer: (inputs, rows) => runBatch(model, inputs, rows) });
  }
  return {
    list: () => [...served.values()],
    get: (name, version) => {
      const model = served.get(name);
      return model && (version === undefined || version === model.version) ? model : undefined;
    },
    ready: () => true,
  };
}
