/** Runs vigil roles as separate OS processes, as deployed (`node <NODE_FLAGS> --import tsx bin/vigil.ts --role …`). */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { NODE_FLAGS } from '../../bin/node-flags.ts';
import { ROOT_DIR } from '../../shared/config.ts';

export interface VigilProcess {
  child: ChildProcess;
  /** Resolves with the exit signal or code once the process is gone. */
  exited: Promise<string>;
  output(): string;
}

/**
 * `nice`: run at this niceness (a negative one needs root, as in CI; otherwise it is ignored with a warning), for
 * tests that time a process's start-up on a machine that other work shares. `nodeArgs`: more Node flags (e.g.
 * --cpu-prof, which NODE_OPTIONS does not accept).
 */
export function spawnVigil(role: string, env: Record<string, string>, options: { nice?: number; nodeArgs?: string[] } = {}): VigilProcess {
  const args = [...NODE_FLAGS, ...(options.nodeArgs ?? []), '--import', 'tsx', path.join(ROOT_DIR, 'bin', 'vigil.ts'), '--role', role];
  const [command, argv] = options.nice === undefined
    ? [process.execPath, args]
    : ['nice', ['-n', String(options.nice), process.execPath, ...args]];
  const child = spawn(command, argv, {
    cwd: ROOT_DIR,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  return { child, exited, output: () => output };
}

/** A TCP port free on 127.0.0.1 at the time of the call (for a child process's PORT). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as import('node:net').AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
