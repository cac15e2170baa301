// The pure serving pieces on their own: the fetch handler over in-process models (multi-input, multi-output
// graphs), the bounded JSON parser, multipart, half floats, bounded decompression and the dynamic batcher.
import { beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import * as kiln from '../ts/index.node.js';
import { parseBoundedJson, stringifyNonFinite } from '../ts/serve/protocols/json.js';
import { multipartField } from '../ts/serve/protocols/multipart.js';
import { halfToFloat } from '../ts/serve/protocols/tensors.js';
import { decodeBody, responseEncoding } from '../ts/serve/encoding.js';
import { Batcher, type BatchingOptions } from '../ts/serve/batcher.js';
import { HttpError } from '../ts/serve/protocols/http.js';
import { randomValues } from './helpers.js';

let handler: (request: Request) => Promise<Response>;
let model: kiln.Model;

beforeAll(async () => {
  await kiln.ready({ threads: 1 });
  const a = kiln.input({ shape: [3], name: 'a' });
  const b = kiln.input({ shape: [2], name: 'b' });
  const joined = kiln.layers.concatenate().apply([a, b]);
  const sum = kiln.layers.dense(4, { name: 'sum' }).apply(joined);
  const half = kiln.layers.dense(2, { name: 'half', activation: 'sigmoid' }).apply(joined);
  model = kiln.model({ inputs: [a, b], outputs: [sum, half] });
  handler = kiln.createFetchHandler({ models: { two: { model, version: 3 } } });
});

const call = async (path: string, body?: unknown, init: RequestInit = {}) => {
  const response = await handler(new Request(`http://edge.test${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), ...init }));
  return { status: response.status, body: await response.json() };
};

async function expected(aRows: number[][], bRows: number[][]) {
  const out = model.predictOnBatch([kiln.tensor(aRows), kiln.tensor(bRows)]) as unknown as kiln.Tensor[];
  const values = await Promise.all(out.map(async (t) => Array.from((await t.data()) as Float32Array)));
  out.forEach((t) => t.dispose());
  return values;
}

describe('createFetchHandler over a graph with two inputs and two outputs', () => {
  const aRows = [Array.from(randomValues(3, 1)), Array.from(randomValues(3, 2))];
  const bRows = [Array.from(randomValues(2, 3)), Array.from(randomValues(2, 4))];

  it('TF Serving: named instances → named predictions, named columns → named outputs', async () => {
    const [sum, half] = await expected(aRows, bRows);
    const rows = await call('/v1/models/two/versions/3:predict', { instances: [{ a: aRows[0], b: bRows[0] }, { a: aRows[1], b: bRows[1] }] });
    expect(rows.status).toBe(200);
    expect(rows.body.predictions.flatMap((p: { sum: number[] }) => p.sum)).toEqual(sum);
    expect(rows.body.predictions.flatMap((p: { half: number[] }) => p.half)).toEqual(half);
    const columns = await call('/v1/models/two:predict', { inputs: { a: aRows, b: bRows } });
    expect(columns.body.outputs.sum.flat()).toEqual(sum);
    expect(columns.body.outputs.half.flat()).toEqual(half);
    expect((await call('/v1/models/two:predict', { inputs: { a: aRows } })).body.error).toBe("input 'b' is missing");
    expect((await call('/v1/models/two:predict', { inputs: { a: aRows, b: bRows, c: [] } })).body.error).toContain("unknown input name(s) 'c'");
    expect((await call('/v1/models/two:predict', { inputs: { a: aRows, b: [bRows[0]] } })).body.error).toContain("batch 1 differs from the other inputs' 2");
    expect((await call('/v1/models/two:predict', { instances: [{ a: aRows[0], b: [1, 2, 3] }] })).body.error).toBe("input 'b' of instance 0: expected shape [2], got [3]");
    expect((await call('/v1/models/two:predict', { instances: [{ a: [1, [2], 3], b: [1, 2] }] })).status).toBe(400);
  });

  it('KServe: inputs by name in any order, a subset of outputs, versions', async () => {
    const [sum, half] = await expected(aRows, bRows);
    const request = { id: 'x', inputs: [
      { name: 'b', shape: [2, 2], datatype: 'FP64', data: bRows.flat() },
      { name: 'a', shape: [2, 3], datatype: 'FP32', data: aRows },
    ], outputs: [{ name: 'half' }] };
    const response = await call('/v2/models/two/versions/3/infer', request);
    expect(response.body).toMatchObject({ id: 'x', model_name: 'two', model_version: '3', outputs: [{ name: 'half', shape: [2, 2], datatype: 'FP32' }] });
    expect(response.body.outputs).toHaveLength(1);
    expect(response.body.outputs[0].data).toEqual(half);
    expect((await call('/v2/models/two/infer', { inputs: request.inputs })).body.outputs[0].data).toEqual(sum);
    expect((await call('/v2/models/two/versions/2/infer', request)).status).toBe(404);
    expect((await call('/v2/models/two/infer', { inputs: [request.inputs[0]] })).body.error).toBe("missing input(s) 'a'");
    expect((await call('/v2/models/two/infer', { inputs: [request.inputs[1], request.inputs[1], request.inputs[0]] })).body.error).toBe("input 'a' is given twice");
    const int8 = { inputs: [{ name: 'a', shape: [1, 3], datatype: 'INT8', data: [1, 2, 300] }, { name: 'b', shape: [1, 2], datatype: 'FP32', data: [0, 0] }] };
    expect((await call('/v2/models/two/infer', int8)).body.error).toBe("input 'a': 300 is not a INT8 value");
    expect((await call('/v2/models/two')).body.inputs).toEqual([{ name: 'a', datatype: 'FP32', shape: [-1, 3] }, { name: 'b', datatype: 'FP32', shape: [-1, 2] }]);
  });

  it('TorchServe refuses models with several inputs, and routes it does not know are 404', async () => {
    expect((await call('/predictions/two', '[1]')).body).toMatchObject({ code: 400, type: 'BadRequestException' });
    expect((await call('/nowhere')).status).toBe(404);
    expect((await call('/v2/health/ready')).body).toEqual({ ready: true });
  });

  it('inflates gzip within the limit and compresses answers on request', async () => {
    const body = gzipSync(JSON.stringify({ inputs: { a: aRows, b: bRows } }));
    const response = await handler(new Request('http://edge.test/v1/models/two:predict', { method: 'POST', body, headers: { 'content-encoding': 'gzip', 'accept-encoding': 'br;q=1, gzip;q=0.5' } }));
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const small = kiln.createFetchHandler({ models: { two: model }, maxBodyBytes: 100 });
    const refused = await small(new Request('http://edge.test/v1/models/two:predict', { method: 'POST', body, headers: { 'content-encoding': 'gzip' } }));
    expect(refused.status).toBe(413);
    expect(() => kiln.createFetchHandler({ models: { '../x': model } })).toThrow('is not allowed');
  });
});

describe('serving building blocks', () => {
  it('parses JSON within depth and value limits, NaN and Infinity only when asked', () => {
    const limits = { maxDepth: 3, maxValues: 10 };
    expect(parseBoundedJson('{"a": [1, -2.5e3, "x\\u0041", true, null]}', limits)).toEqual({ a: [1, -2500, 'xA', true, null] });
    expect(() => parseBoundedJson('[[[[1]]]]', limits)).toThrow('nested deeper than 3 levels');
    expect(() => parseBoundedJson(`[${'1,'.repeat(10)}1]`, limits)).toThrow('more than 10 values');
    expect(() => parseBoundedJson('[NaN]', limits)).toThrow("'NaN' is not JSON");
    expect(parseBoundedJson('[NaN, Infinity, -Infinity]', { ...limits, nonFinite: true })).toEqual([NaN, Infinity, -Infinity]);
    for (const bad of ['[1,]', '{"a" 1}', '"\\x"', '[01]', '1 2', '', '[1', '{"a":1,}', '"a\nb"']) {
      expect(() => parseBoundedJson(bad, limits), bad).toThrow(HttpError);
    }
    expect(stringifyNonFinite({ p: [NaN, -Infinity, 0.5], s: 'x' })).toBe('{"p":[NaN,-Infinity,0.5],"s":"x"}');
  });

  it('finds a multipart field and names the fields when it is missing', () => {
    const body = new TextEncoder().encode('--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nno\r\n--XyZ\r\nContent-Disposition: form-data; name="data"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\u0001\u0002\r\n\u0003\r\n--XyZ--\r\n');
    expect(Array.from(multipartField(body, 'multipart/form-data; boundary=XyZ', ['data']))).toEqual([1, 2, 13, 10, 3]);
    expect(() => multipartField(body, 'multipart/form-data; boundary=XyZ', ['file'])).toThrow("no field 'file' (fields: 'other', 'data')");
    expect(() => multipartField(body, 'multipart/form-data', ['data'])).toThrow('without a boundary');
  });

  it('reads half floats, including subnormals and specials', () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00].map(halfToFloat)).toEqual([1, -2, 65504, 2 ** -24, Infinity, -Infinity]);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it('stops inflating a gzip bomb at the limit, and picks an accepted encoding', async () => {
    await expect(decodeBody(gzipSync(new Uint8Array(10_000_000)), 'gzip', 1_000_000)).rejects.toThrow('inflates past the body limit of 1000000 bytes');
    await expect(decodeBody(new Uint8Array([1, 2, 3]), 'gzip', 100)).rejects.toMatchObject({ status: 400 });
    await expect(decodeBody(new Uint8Array([1]), 'br', 100)).rejects.toMatchObject({ status: 415 });
    expect(responseEncoding('gzip;q=0, deflate')).toBe('deflate');
    expect(responseEncoding('identity')).toBeUndefined();
  });

  it('batches what waits, up to the batch size, keeps order, bounds the queue and keeps deadlines', async () => {
    const options: BatchingOptions = { enabled: true, maxBatchSize: 4, batchTimeoutMicros: 20_000, maxQueueRows: 6, requestTimeoutMs: 1000 };
    const batches: number[] = [];
    let busy = false;
    let release: () => void = () => undefined;
    const batcher: Batcher = new Batcher(options, [1], [2], () => (busy ? undefined : async (inputs, rows) => {
      busy = true;
      batches.push(rows);
      await new Promise<void>((resolve) => (release = resolve));
      busy = false;
      return [Float32Array.from({ length: rows * 2 }, (_, i) => inputs[0][i >> 1] * 10 + (i % 2))];
    }), { batch: () => undefined, free: () => batcher.pump() });
    const one = (v: number) => batcher.enqueue([Float32Array.of(v)], 1);
    const first = [one(1), one(2), one(3)];
    expect(batches).toEqual([]); // 3 rows < 4: they wait for company, up to the timeout
    await new Promise((r) => setTimeout(r, 40));
    expect(batches).toEqual([3]);
    const more = [one(4), one(5), one(6), one(7), one(8)];
    expect(batcher.depth).toBe(5);
    release();
    expect((await Promise.all(first)).map((a) => Array.from(a[0]))).toEqual([[10, 11], [20, 21], [30, 31]]);
    await new Promise((r) => setTimeout(r, 0));
    expect(batches).toEqual([3, 4]); // a full batch leaves as soon as the worker is free
    release();
    while (batches.length < 3) await new Promise((r) => setTimeout(r, 5));
    release();
    expect((await Promise.all(more)).map((a) => a[0][0])).toEqual([40, 50, 60, 70, 80]);
    expect(batches).toEqual([3, 4, 1]);
    await batcher.drain();
  });

  it('answers 503 beyond the queue and 504 past a deadline', async () => {
    const options: BatchingOptions = { enabled: true, maxBatchSize: 8, batchTimeoutMicros: 1e6, maxQueueRows: 3, requestTimeoutMs: 30 };
    const batcher = new Batcher(options, [1], [1], () => undefined, { batch: () => undefined, free: () => undefined });
    const waiting = batcher.enqueue([new Float32Array(2)], 2);
    await expect(batcher.enqueue([new Float32Array(2)], 2)).rejects.toMatchObject({ status: 503 });
    await expect(waiting).rejects.toMatchObject({ status: 504 });
    expect(batcher.depth).toBe(0);
    await batcher.drain();
  });
});
