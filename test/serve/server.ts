/** Starts a real `kiln serve` (the rollup build) on a free loopback port, for the serving tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface Served {
  url: string;
  host: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startServe(target: string, args: string[] = []): Promise<Served> {
  const port = await freePort();
  const child = spawn('node', [cli, 'serve', target, '--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 300 && !output.includes('listening on'); i++) {
    if (child.exitCode !== null) throw new Error(`kiln serve exited: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!output.includes('listening on')) throw new Error(`kiln serve did not start: ${output}`);
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    child,
    output: () => output,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
