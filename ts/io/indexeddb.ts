/** Model files in a browser's IndexedDB: one object store of name → bytes. */
import { ValueError } from '../errors.js';

const DATABASE = 'kiln-models';
const STORE = 'models';

function open(op: string): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') throw new ValueError(`${op}: 'indexeddb://' needs a runtime with IndexedDB (a browser)`);
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new ValueError(`${op}: IndexedDB would not open: ${request.error?.message}`));
  });
}

async function run<T>(op: string, mode: IDBTransactionMode, body: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open(op);
  try {
    return await new Promise<T>((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = body(transaction.objectStore(STORE));
      // A write counts once its transaction commits.
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(new ValueError(`${op}: IndexedDB failed: ${transaction.error?.message}`));
      transaction.onabort = () => reject(new ValueError(`${op}: IndexedDB aborted: ${transaction.error?.message}`));
    });
  } finally {
    db.close();
  }
}

const checkName = (op: string, name: string) => {
  if (name === '') throw new ValueError(`${op}: 'indexeddb://' needs a name after it`);
};

export async function writeToIndexedDb(op: string, name: string, bytes: Uint8Array): Promise<void> {
  checkName(op, name);
  await run(op, 'readwrite', (store) => store.put(bytes.slice(), name));
}

export async function readFromIndexedDb(op: string, name: string): Promise<Uint8Array> {
  checkName(op, name);
  const value = await run(op, 'readonly', (store) => store.get(name));
  if (!(value instanceof Uint8Array)) throw new ValueError(`${op}: no model named '${name}' in IndexedDB`);
  return value;
}

export async function deleteFromIndexedDb(name: string): Promise<void> {
  await run('deleteModel()', 'readwrite', (store) => store.delete(name));
}
