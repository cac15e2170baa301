/** Cases found by trying kiln as a new user would: each failed before its fix. */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../ts/index.node.js';
// @ts-expect-error: a plain ESM script without types
import { countTests } from '../scripts/count-tests.mjs';

describe('allocations wasm32 cannot hold', () => {
  beforeAll(async () => {
    await kiln.ready({ variant: 'simd' });
  });

  it('refuses a tensor whose byte count wraps in 32 bits, naming it, with the accounting exact', () => {
    const before = kiln.memory().liveBytes;
    expect(() => kiln.zeros([65536, 65537])).toThrow(kiln.OutOfMemoryError);
    expect(() => kiln.zeros([65536, 65537])).toThrow(/float32 tensor of shape \[65536,65537\]: 17,180,131,328 bytes needed, at most [\d,]+ available/);
    expect(kiln.memory().liveBytes).toBe(before);
  });

  it('refuses 40 GB without trapping, and the backend keeps working', () => {
    const before = kiln.memory().liveBytes;
    expect(() => kiln.zeros([100000, 100000])).toThrow(kiln.OutOfMemoryError);
    expect(() => kiln.tensor(new Int32Array(1), [1]).dispose()).not.toThrow();
    expect(kiln.memory().liveBytes).toBe(before);
    const c = kiln.scope(() => kiln.matMul(kiln.tensor([[1, 2]]), kiln.tensor([[3], [4]])));
    expect(Array.from(c.dataSync())).toEqual([11]);
    c.dispose();
    expect(kiln.memory().liveBytes).toBe(before);
  });

  it('the reference backend names what the JavaScript engine will not grant', async () => {
    await kiln.ready({ backend: 'reference' });
    expect(() => kiln.zeros([100000, 100000])).toThrow(/cannot allocate a float32 tensor of shape \[100000,100000\]/);
    expect(kiln.memory().liveBytes).toBe(0);
    await kiln.ready({ variant: 'simd' });
  });
});

describe("npm test's closing line", () => {
  const cargo = 'test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured\n';
  it('counts vitest tests that were skipped or left to do', () => {
    const vitest = JSON.stringify({ numPassedTests: 7, numFailedTests: 0, numFailedTestSuites: 0, numPendingTests: 2, numTodoTests: 1 });
    expect(countTests(cargo, vitest).line).toBe('kiln: 12 passed, 0 failed, 4 skipped');
  });
  it('counts a test file that failed to load as a failure, and missing results as one', () => {
    const vitest = JSON.stringify({ numPassedTests: 7, numFailedTests: 0, numFailedTestSuites: 1, numPendingTests: 0, numTodoTests: 0 });
    expect(countTests(cargo, vitest).line).toBe('kiln: 12 passed, 1 failed, 1 skipped');
    expect(countTests('', '').failed).toBe(1);
  });
});
