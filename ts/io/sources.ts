/**
 * Where model files come from and go to: bytes (ArrayBuffer, Uint8Array, Blob, Response) anywhere, a URL
 * (fetch), 'indexeddb://NAME' and 'downloads://NAME' in browsers, and file paths in Node (through the file
 * system the Node entry installs, so other bundles carry no `node:fs`).
 */
import { ValueError, describe } from '../errors.js';
import { deleteFromIndexedDb, readFromIndexedDb, writeToIndexedDb } from './indexeddb.js';

export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  /** Temporary file, fsync, rename, fsync of the folder: a kill leaves the old file or the new one. */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
}

let fileSystem: FileSystem | null = null;

export function setFileSystem(fs: FileSystem): void {
  fileSystem = fs;
}

function files(op: string, target: string): FileSystem {
  if (!fileSystem) throw new ValueError(`${op}: '${target}' is a file path, which only Node reads and writes; use 'indexeddb://', 'downloads://', a URL or bytes here`);
  return fileSystem;
}

export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Blob | Response;

const INDEXEDDB = 'indexeddb://';
const DOWNLOADS = 'downloads://';

export async function saveBytes(target: string, bytes: Uint8Array): Promise<void> {
  const op = 'save()';
  if (typeof target !== 'string' || target === '') throw new ValueError(`${op}: target must be a path, 'indexeddb://NAME' or 'downloads://NAME', got ${describe(target)}`);
  if (target.startsWith(INDEXEDDB)) return writeToIndexedDb(op, target.slice(INDEXEDDB.length), bytes);
  if (target.startsWith(DOWNLOADS)) return download(op, target.slice(DOWNLOADS.length), bytes);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) throw new ValueError(`${op}: cannot save to '${target}': use a path, 'indexeddb://NAME' or 'downloads://NAME'`);
  return files(op, target).writeFileAtomic(target, bytes);
}

export async function loadBytes(source: ModelSource): Promise<Uint8Array> {
  const op = 'load()';
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (typeof Response !== 'undefined' && source instanceof Response) return responseBytes(op, source, source.url || 'the response');
  const text = source instanceof URL ? source.href : source;
  if (typeof text !== 'string' || text === '') throw new ValueError(`${op}: source must be a path, a URL, 'indexeddb://NAME', an ArrayBuffer, Uint8Array, Blob or Response, got ${describe(source)}`);
  if (text.startsWith(INDEXEDDB)) return readFromIndexedDb(op, text.slice(INDEXEDDB.length));
  if (/^(https?|file|data|blob):/i.test(text) && !(fileSystem && text.startsWith('file:'))) return responseBytes(op, await fetch(text), text);
  // Without a file system (a page, a worker), a relative path is a URL relative to the document, as fetch() takes it.
  if (!fileSystem && typeof location !== 'undefined') return responseBytes(op, await fetch(new URL(text, location.href)), text);
  return files(op, text).readFile(text.startsWith('file:') ? new URL(text).pathname : text);
}

async function responseBytes(op: string, response: Response, where: string): Promise<Uint8Array> {
  if (!response.ok) throw new ValueError(`${op}: fetching ${where} answered ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Offers the bytes as a file download (browsers). */
async function download(op: string, name: string, bytes: Uint8Array): Promise<void> {
  if (typeof document === 'undefined') throw new ValueError(`${op}: 'downloads://' needs a browser page`);
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name.endsWith('.kiln') ? name : `${name}.kiln`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export { deleteFromIndexedDb };
