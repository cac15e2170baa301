/** `kiln.load(source)`: a model from a path, URL, IndexedDB or bytes. */
import type { Model } from '../model/model.js';
import { modelFromBytes } from './model-file.js';
import { loadBytes, type ModelSource } from './sources.js';

export async function load(source: ModelSource): Promise<Model> {
  return modelFromBytes(await loadBytes(source));
}
