// The `kiln` command end to end (the rollup build in dist/), on small slices.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { readSafetensors } from '../ts/io/safetensors.js';

const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const shared = new URL('../../shared/data/cifar10', import.meta.url).pathname;

function kiln(args: string[], home = mkdtempSync(join(tmpdir(), 'kiln-home-'))) {
  const env = { ...process.env, HOME: home, KILN_DATA_DIR: '' };
  return execFileSync('node', [cli, ...args], { env, encoding: 'utf8', cwd: home });
}

function train(args: string[]) {
  const home = mkdtempSync(join(tmpdir(), 'kiln-home-'));
  const report = join(home, 'report.html');
  const output = join(home, 'model.kiln');
  const stdout = kiln(['train', 'cifar10', '--epochs', '1', '--threads', '2', '--report', report, '--output', output, ...args], home);
  return { stdout, report, output, home };
}

/** The SHA-256 of a model file's tensor bytes (its own checksum, verified when it loads). */
const weightsDigest = (path: string) => readSafetensors(new Uint8Array(readFileSync(path))).metadata.sha256;

describe('kiln CLI', () => {
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

  it.runIf(existsSync(shared))('trains on a slice of the real CIFAR-10, saves, reloads to the same accuracy; evaluate, info and predict read the file', () => {
    const { stdout, output, home } = train(['--data-dir', shared, '--train-limit', '256', '--test-limit', '64']);
    expect(stdout).toContain('CIFAR-10 (256 train / 64 test images');
    expect(stdout).toContain('F1 airplane:');
    expect(stdout).toMatch(/macro ROC AUC \(one-vs-rest\): 0\.\d{4}/);
    expect(stdout).toMatch(/training: 1 epochs in [\d.]+ s/);
    const accuracy = /test accuracy: (\d+\.\d\d) %/.exec(stdout)![1];
    expect(stdout).toContain(`reloaded, its test accuracy is ${accuracy} %, as trained`);

    const report = join(home, 'evaluate.html');
    const evaluated = kiln(['evaluate', output, '--data-dir', shared, '--test-limit', '64', '--report', report], home);
    expect(evaluated).toContain(`test accuracy: ${accuracy} % on 64 images`);
    expect(readFileSync(report, 'utf8')).toContain('macro ROC AUC');

    const info = kiln(['info', output], home);
    expect(info).toContain('kiln model file, format 1.0');
    expect(info).toContain('Total params: 122,570');
    expect(info).toContain('"airplane"');

    const png = new pngjs.PNG({ width: 45, height: 37 });
    for (let i = 0; i < png.data.length; i += 4) png.data.set([(i * 7) % 256, 90, 200, 255], i);
    writeFileSync(join(home, 'a.png'), pngjs.PNG.sync.write(png));
    writeFileSync(join(home, 'b.jpg'), jpeg.encode({ width: 45, height: 37, data: png.data }, 95).data);
    const predicted = kiln(['predict', output, join(home, 'a.png'), join(home, 'b.jpg'), '--top', '2'], home);
    expect(predicted).toMatch(/a\.png: \w+ \d+\.\d %, \w+ \d+\.\d %\n.*b\.jpg: \w+ \d+\.\d %, \w+ \d+\.\d %/);
    writeFileSync(join(home, 'c.png'), Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2]));
    const bad = spawnSync('node', [cli, 'predict', output, join(home, 'c.png')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('c.png: not a readable PNG');
  });

  it('killed with SIGKILL at random moments and resumed, ends with the weights of an uninterrupted run', async () => {
    const data = existsSync(shared) ? ['--data-dir', shared, '--train-limit', '320', '--test-limit', '64'] : ['--no-download', '--data-dir', '/nonexistent', '--demo-count', '320'];
    const args = ['--epochs', '2', '--threads', '2', '--seed', '3', ...data];
    const whole = train(args);
    const home = mkdtempSync(join(tmpdir(), 'kiln-resume-'));
    const output = join(home, 'model.kiln');
    const run = (extra: string[]) => spawn('node', [cli, 'train', 'cifar10', ...args, '--output', output, '--report', join(home, 'r.html'), '--checkpoint', join(home, 'ckpt'), '--checkpoint-every', '1', ...extra], { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] });
    let kills = 0;
    let state = 7;
    for (let attempt = 0; attempt < 12 && !existsSync(output); attempt++) {
      const child = run(attempt === 0 ? [] : ['--resume']);
      let stdout = '';
      child.stdout!.on('data', (d) => (stdout += d));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const killAfter = 500 + (state % 1500);
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfter);
      const code = await exited;
      clearTimeout(timer);
      if (code === null) kills++;
      else expect(code, stdout).toBe(0);
    }
    expect(kills).toBeGreaterThan(0);
    expect(existsSync(output)).toBe(true);
    expect(weightsDigest(output)).toBe(weightsDigest(whole.output));
  });

  it('SIGTERM saves a checkpoint and --resume finishes the run', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kiln-term-'));
    const common = ['train', 'cifar10', '--no-download', '--data-dir', '/nonexistent', '--demo-count', '1600', '--epochs', '2', '--threads', '2', '--checkpoint', join(home, 'ckpt'), '--output', join(home, 'm.kiln'), '--report', join(home, 'r.html')];
    const child = spawn('node', [cli, ...common], { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    let progress = '';
    child.stderr!.on('data', (d) => {
      progress += d;
      if (/Epoch 1\/2 +\d+\//.test(progress) && !child.killed) child.kill('SIGTERM'); // the progress bar is on stderr
    });
    const code = await new Promise((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(143);
    expect(stdout).toContain('SIGTERM: checkpoint saved');
    const resumed = kiln([...common, '--resume'], home);
    expect(resumed).toMatch(/resuming from .*: epoch [12], batch \d+/);
    expect(resumed).toContain('as trained');
  });

  it('rejects bad arguments with a named message', () => {
    const r = spawnSync('node', [cli, 'train', 'cifar10', '--epochs', 'zero'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("--epochs must be a positive integer, got 'zero'");
    const u = spawnSync('node', [cli, 'train', 'mnist'], { encoding: 'utf8' });
    expect(u.status).toBe(2);
    expect(u.stderr).toContain("unknown command 'train mnist'");
    const m = spawnSync('node', [cli, 'train', 'cifar10', '--model', 'vgg'], { encoding: 'utf8' });
    expect(m.stderr).toContain("--model must be cnn or resnet20, got 'vgg'");
    const missing = spawnSync('node', [cli, 'info', '/no/such.kiln'], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("ENOENT");
  });
});
