/** Runs vigil roles as separate OS processes, as deployed (`node <NODE_FLAGS> --import tsx bin/vigil.ts --role …`). */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
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
export function spawnVigil(
  role: string,
  env: Record<string, string>,
  options: { nice?: number; nodeArgs?: string[] } = {},
): VigilProcess {
  const args = [
    ...NODE_FLAGS,
    ...(options.nodeArgs ?? []),
    '--import',
    'tsx',
    path.join(ROOT_DIR, 'bin', 'vigil.ts'),
    '--role',
    role,
  ];
  const [command, argv] =
    options.nice === undefined
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
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? String(code))),
  );
  return { child, exited, output: () => output };
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU time (user + system, ms) a process has used so far; null once it is gone (or without /proc). */
export function cpuTimeMs(pid: number | undefined): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/** A TCP port free on 127.0.0.1 at the time of the call (for a child process's PORT). */
/** SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it is gone. */
export async function stopVigil(proc: VigilProcess, graceMs: number): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Polls GET /readyz of the process on `port` until it answers 200; throws with its output if it exits or times out. */
export async function waitVigilReady(proc: VigilProcess, port: number, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${name} exited:\n${proc.output()}`);
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${name} not ready after ${timeoutMs / 1000} s:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

const READY_POLL_MS = 100;

export { freePort } from '../../infra/kafka/broker.ts';
