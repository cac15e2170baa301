/** Model files on disk for the Node entry: reads, and writes that a kill cannot tear. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ValueError } from '../errors.js';
import type { FileSystem } from './sources.js';

/** Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path` and syncs the folder. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(temporary, 'wx', 0o644);
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    rmSync(temporary, { force: true });
    throw new ValueError(`save(): could not write '${path}': ${(error as Error).message}`);
  }
  try {
    const folder = openSync(dirname(path), 'r');
    fsyncSync(folder);
    closeSync(folder);
  } catch {
    // Some file systems cannot sync a folder; the rename itself is still atomic.
  }
}

export const nodeFiles: FileSystem = {
  async readFile(path) {
    try {
      return new Uint8Array(readFileSync(path));
    } catch (error) {
      throw new ValueError(`load(): could not read '${path}': ${(error as Error).message}`);
    }
  },
  async writeFileAtomic(path, bytes) {
    writeFileAtomicSync(path, bytes);
  },
};
