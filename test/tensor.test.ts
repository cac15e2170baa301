import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
import { randomValues } from './helpers.js';

describe('tensors on the wasm backend', () => {
  beforeAll(async () => {
    await kiln.ready({ threads: 2 });
  });

  it('reports the variant, the thread count and no reason in Node with 2 threads', () => {
    const info = kiln.backendInfo();
    expect(info).toMatchObject({ backend: 'wasm', platform: 'node', threads: 2 });
    expect(info.variant).toMatch(/^threads/);
    expect(info.reason).toBeUndefined();
  });

  it('round-trips values and shapes, sync and async', async () => {
    const values = randomValues(3 * 5 * 7, 1);
    const t = kiln.tensor(values, [3, 5, 7]);
    expect(t.shape).toEqual([3, 5, 7]);
    expect(await t.data()).toEqual(values);
    expect(t.dataSync()).toEqual(values);
    t.dispose();
    const nested = kiln.tensor([[1, 2], [3, 4], [5, 6]]);
    expect(nested.shape).toEqual([3, 2]);
    expect(Array.from(nested.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    nested.dispose();
  });

  it('keeps wasm memory flat over 10,000 matMul calls with dispose', () => {
    const a = kiln.tensor(randomValues(24 * 31, 2), [24, 31]);
    const b = kiln.tensor(randomValues(31 * 17, 3), [31, 17]);
    const warm = kiln.matMul(a, b); // the first call may grow the heap once
    warm.dispose();
    const before = kiln.memory();
    for (let i = 0; i < 10_000; i++) kiln.matMul(a, b).dispose();
    expect(kiln.memory()).toEqual(before);
    a.dispose();
    b.dispose();
  });

  it('scope() frees intermediates and keeps what it returns', () => {
    const base = kiln.memory().liveBytes;
    const a = kiln.tensor(randomValues(16, 4), [4, 4]);
    const kept = kiln.scope(() => {
      const x = kiln.matMul(a, a);
      const y = kiln.matMul(x, a);
      return { y, list: [kiln.matMul(y, a)] };
    });
    expect(kept.y.isDisposed).toBe(false);
    expect(kept.list[0].isDisposed).toBe(false);
    expect(kiln.memory().liveBytes).toBe(base + 3 * 16 * 4);
    for (const t of [a, kept.y, kept.list[0]]) t.dispose();
    expect(kiln.memory().liveBytes).toBe(base);
  });

  it('scope() frees everything when fn throws, and refuses async functions', () => {
    const base = kiln.memory().liveBytes;
    expect(() =>
      kiln.scope(() => {
        kiln.zeros([8, 8]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(() => kiln.scope((async () => kiln.zeros([2])) as never)).toThrow(kiln.ValueError);
    expect(kiln.memory().liveBytes).toBe(base);
  });

  it('the finalizer frees tensors that were garbage-collected without dispose()', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'tests run with --expose-gc').toBeTypeOf('function');
    const base = kiln.memory().liveBytes;
    (() => {
      for (let i = 0; i < 50; i++) kiln.zeros([1000]);
    })();
    expect(kiln.memory().liveBytes).toBe(base + 50 * 4000);
    for (let i = 0; i < 20 && kiln.memory().liveBytes !== base; i++) {
      gc!();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(kiln.memory().liveBytes).toBe(base);
  });
});

describe('bad input gets a named error and leaves nothing behind', () => {
  beforeAll(async () => {
    await kiln.ready({ threads: 2 });
  });

  it('mismatched inner dimensions', () => {
    const a = kiln.zeros([2, 3]);
    const b = kiln.zeros([4, 5]);
    const base = kiln.memory().liveBytes;
    expect(() => kiln.matMul(a, b)).toThrow(kiln.ShapeError);
    expect(() => kiln.matMul(a, b)).toThrow('matMul(): inner dimensions differ: a is [2,3], b is [4,5]');
    expect(() => kiln.matMul(a, kiln.zeros([3]))).toThrow('matMul(): b must be 2-D, got shape [3]');
    expect(kiln.memory().liveBytes).toBe(base + 12); // only the zeros([3]) made for the call
  });

  it('non-finite alpha or beta', () => {
    const a = kiln.zeros([2, 2]);
    expect(() => kiln.gemm(a, a, { alpha: NaN })).toThrow(kiln.ValueError);
    expect(() => kiln.gemm(a, a, { alpha: NaN })).toThrow('gemm(): alpha must be a finite number, got number NaN');
    expect(() => kiln.gemm(a, a, { beta: Infinity, c: a })).toThrow('gemm(): beta must be a finite number, got number Infinity');
    expect(() => kiln.gemm(a, a, { c: kiln.zeros([3, 2]), beta: 1 })).toThrow('gemm(): c must have shape [2,2], got [3,2]');
    a.dispose();
  });

  it('wrong dtype or data', () => {
    expect(() => kiln.tensor(new Float64Array(4), [2, 2])).toThrow(kiln.DTypeError);
    expect(() => kiln.tensor(new Float64Array(4), [2, 2])).toThrow("tensor(): values for dtype 'float32' must be a Float32Array or numbers, got Float64Array");
    expect(() => kiln.tensor(new Float32Array(2), [2], 'int32')).toThrow("tensor(): values for dtype 'int32' must be a Int32Array or numbers, got Float32Array");
    expect(() => kiln.tensor([1.5, 2], [2], 'int32')).toThrow('tensor(): values must be integers, got number 1.5');
    expect(() => kiln.tensor([1, 2], [2], 'float64' as never)).toThrow("tensor(): dtype must be 'float32' or 'int32', got 'float64'");
    const labels = kiln.tensor(new Int32Array([1, 2, 3, 4]), [2, 2]);
    expect(() => kiln.matMul(labels, labels)).toThrow('matMul(): a must be float32, got int32');
    labels.dispose();
    expect(() => kiln.tensor([1, 2, 3], [2, 2])).toThrow('tensor(): shape [2,2] needs 4 values, got 3');
    expect(() => kiln.tensor([[1, 2], [3]])).toThrow(kiln.ShapeError);
    expect(() => kiln.matMul([[1]] as never, kiln.zeros([1, 1]))).toThrow('matMul(): a must be a Tensor, got array(1)');
  });

  it('bad dropout and fused-activation arguments', () => {
    const x = kiln.zeros([2, 4, 4, 3]);
    const w = kiln.zeros([3, 3, 3, 2]);
    const base = kiln.memory().liveBytes;
    expect(() => kiln.dropout(x, 1, 0)).toThrow('dropout(): rate must be in [0, 1), got number 1');
    expect(() => kiln.dropout(x, 0.5, -1)).toThrow('dropout(): seed must be an integer in [0, 2^32), got number -1');
    expect(() => kiln.dropout(x, 0.5, 2 ** 32)).toThrow(kiln.ValueError);
    expect(() => kiln.conv2d(x, w, null, { activation: 'tanh' as never })).toThrow("conv2d(): activation must be 'linear' or 'relu', got string tanh");
    expect(kiln.memory().liveBytes).toBe(base);
    x.dispose();
    w.dispose();
  });

  it('use after dispose', () => {
    const a = kiln.zeros([2, 2]);
    a.dispose();
    a.dispose(); // harmless twice
    expect(() => a.dataSync()).toThrow(kiln.DisposedError);
    expect(() => kiln.matMul(a, a)).toThrow('tensor of shape [2,2] was used after dispose()');
  });

  it('bad ready() options', async () => {
    await expect(kiln.ready({ threads: 0 })).rejects.toThrow('ready(): threads must be a positive integer, got number 0');
    await expect(kiln.ready({ variant: 'avx' as never })).rejects.toThrow(kiln.ValueError);
    await expect(kiln.ready({ backend: 'gpu' as never })).rejects.toThrow("ready(): backend must be 'wasm' or 'reference'");
  });
});

describe('backend selection', () => {
  it('one thread selects a single-threaded build; relaxedSimd: false selects plain simd128', async () => {
    expect((await kiln.ready({ threads: 1 })).variant).toMatch(/^simd/);
    expect(await kiln.ready({ threads: 1, relaxedSimd: false })).toMatchObject({ variant: 'simd', threads: 1 });
  });

  it('the reference backend runs the same ops', async () => {
    expect((await kiln.ready({ backend: 'reference' })).backend).toBe('reference');
    const c = kiln.matMul(kiln.tensor([[1, 2]]), kiln.tensor([[3], [4]]));
    expect(Array.from(c.dataSync())).toEqual([11]);
  });
});
