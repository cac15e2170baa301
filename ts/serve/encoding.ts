/**
 * Content-Encoding both ways with the platform's CompressionStream / DecompressionStream (Node ≥ 18, browsers,
 * workerd): request bodies inflate only up to the body limit (a gzip bomb stops there), and responses are
 * compressed when the client's Accept-Encoding asks.
 */
import { HttpError } from './protocols/http.js';

type Encoding = 'gzip' | 'deflate';

const encodingOf = (header: string | undefined): Encoding | 'identity' | undefined => {
  const value = (header ?? 'identity').trim().toLowerCase();
  return value === 'gzip' || value === 'x-gzip' ? 'gzip' : value === 'deflate' ? 'deflate' : value === 'identity' || value === '' ? 'identity' : undefined;
};

export async function decodeBody(body: Uint8Array, contentEncoding: string | undefined, limit: number): Promise<Uint8Array> {
  const encoding = encodingOf(contentEncoding);
  if (encoding === undefined) throw new HttpError(415, `Content-Encoding '${contentEncoding}' is not supported; use gzip, deflate or identity`);
  if (encoding === 'identity') return body;
  const stream = new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream(encoding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  try {
    return await readLimited(stream, limit, () => new HttpError(413, `the ${encoding} body inflates past the body limit of ${limit} bytes`));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, `the ${encoding} body does not decompress: ${(error as Error).message}`);
  }
}

/** A stream's bytes, cancelled with `tooLarge()` as soon as they pass `limit`. */
export async function readLimited(
  stream: ReadableStream<Uint8Array>,
  limit = Infinity,
  tooLarge = () => new HttpError(413, `the body is over the limit of ${limit} bytes`),
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks, size);
}

/** The encoding to answer in: gzip or deflate when Accept-Encoding lists it (q > 0), else none. */
export function responseEncoding(acceptEncoding: string | undefined): Encoding | undefined {
  if (!acceptEncoding) return undefined;
  const accepted = acceptEncoding.split(',').map((item) => {
    const [name, ...params] = item.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)/.exec(p)?.[1]).find(Boolean);
    return { name, q: q === undefined ? 1 : Number(q) };
  });
  for (const name of ['gzip', 'deflate'] as const) if (accepted.some((a) => a.name === name && a.q > 0)) return name;
  return undefined;
}

export function encodeBody(body: Uint8Array, encoding: Encoding): Promise<Uint8Array> {
  const stream = new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream(encoding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  return readLimited(stream);
}

/** The chunks as one array (`size`: their total length). */
export function concat(chunks: Uint8Array[], size = chunks.reduce((n, c) => n + c.length, 0)): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
