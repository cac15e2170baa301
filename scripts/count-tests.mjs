// The closing line of `npm test`: passed, failed and skipped tests of cargo's log and vitest's JSON report.
//   node scripts/count-tests.mjs CARGO_LOG VITEST_JSON
import { readFileSync } from 'node:fs';

export function countTests(cargoLog, vitestJson) {
  let passed = 0, failed = 0, skipped = 0;
  for (const m of cargoLog.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)) {
    passed += +m[1];
    failed += +m[2];
    skipped += +m[3];
  }
  try {
    const v = JSON.parse(vitestJson);
    passed += v.numPassedTests;
    failed += Math.max(v.numFailedTests, v.numFailedTestSuites ?? 0); // a file that fails to load runs no test
    skipped += v.numPendingTests + v.numTodoTests;
  } catch {
    failed += 1;
    console.error('vitest wrote no results');
  }
  return { passed, failed, skipped, line: `kiln: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : '') };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cargoLog, vitestJson] = process.argv.slice(2);
  const read = (path) => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };
  const { failed, line } = countTests(read(cargoLog), read(vitestJson));
  console.log(line);
  process.exitCode = failed > 0 ? 1 : 0;
}
