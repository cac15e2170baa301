// The `kiln train cifar10` command end to end (the rollup build in dist/), on small slices.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const shared = new URL('../../shared/data/cifar10', import.meta.url).pathname;

function train(args: string[]) {
  const home = mkdtempSync(join(tmpdir(), 'kiln-home-'));
  const report = join(home, 'report.html');
  const env = { ...process.env, HOME: home, KILN_DATA_DIR: '' };
  const stdout = execFileSync('node', [cli, 'train', 'cifar10', '--epochs', '1', '--threads', '2', '--report', report, ...args], { env, encoding: 'utf8' });
  return { stdout, report };
}

describe('kiln train cifar10', () => {
  it('without a dataset or network, says so and runs the synthetic demonstration', () => {
    const { stdout, report } = train(['--no-download', '--data-dir', join(tmpdir(), 'no-such-dir'), '--demo-count', '96']);
    expect(stdout).toContain('No CIFAR-10 dataset');
    expect(stdout).toContain('Synthetic demonstration (96 train / 20 test images)');
    expect(stdout).toContain('Total params: 122,570');
    expect(stdout).toMatch(/test accuracy: \d+\.\d\d % on 20 images/);
    expect(stdout).toContain('confusion matrix');
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Synthetic demonstration');
  });

  it.runIf(existsSync(shared))('trains on a slice of the real CIFAR-10 and prints per-class F1', () => {
    const { stdout } = train(['--data-dir', shared, '--train-limit', '256', '--test-limit', '64']);
    expect(stdout).toContain('CIFAR-10 (256 train / 64 test images');
    expect(stdout).toContain('F1 airplane:');
    expect(stdout).toContain('F1 truck:');
    expect(stdout).toMatch(/training: 1 epochs in [\d.]+ s/);
  });

  it('rejects bad arguments with a named message', () => {
    const r = spawnSync('node', [cli, 'train', 'cifar10', '--epochs', 'zero'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("--epochs must be a positive integer, got 'zero'");
    const u = spawnSync('node', [cli, 'train', 'mnist'], { encoding: 'utf8' });
    expect(u.status).toBe(2);
    expect(u.stderr).toContain("unknown command 'train mnist'");
  });
});
