/**
 * A private, real Alertmanager (Debian's prometheus-alertmanager, installed by .ci/run) for one test: its own
 * config and data directory, a free port, clustering off, and a webhook receiver pointing at `receiverUrl` with
 * send_resolved, grouping waits of zero so notifications come at once.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { settleWithin } from '../../shared/wait.ts';
import { freePort } from './process.ts';

export interface PrivateAlertmanager {
  url: string;
  stop(): Promise<void>;
}

const BINARIES = ['prometheus-alertmanager', 'alertmanager'];

export function alertmanagerBinary(): string {
  for (const name of BINARIES) {
    try {
      execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'pipe' });
      return name;
    } catch {
      // try the next name
    }
  }
  throw new Error(
    'no Alertmanager binary: install it with `apt-get install -y prometheus-alertmanager` (.ci/run does)',
  );
}

export async function startAlertmanager(receiverUrl: string): Promise<PrivateAlertmanager> {
  const binary = alertmanagerBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-am-'));
  const config = [
    'route:',
    '  receiver: sink',
    '  group_by: [alertname, host]',
    '  group_wait: 0s',
    '  group_interval: 1s',
    '  repeat_interval: 1h',
    'receivers:',
    '  - name: sink',
    '    webhook_configs:',
    `      - url: ${receiverUrl}`,
    '        send_resolved: true',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'alertmanager.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(dir, 'alertmanager.log'), 'a');
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { stdio: ['ignore', log, log] },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `alertmanager exited with ${child.exitCode}: ${fs.readFileSync(path.join(dir, 'alertmanager.log'), 'utf8')}`,
      );
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('alertmanager not ready within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await settleWithin(exited, 5000);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.closeSync(log);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
