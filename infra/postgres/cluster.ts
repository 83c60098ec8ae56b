// A private, throw-away PostgreSQL cluster: for fault tests (kill/restart Postgres mid-stream)
// and for machines without a running server. Layout under opts.dir: data/ (PGDATA),
// postgres.log, and the unix socket. Never touches the machine's own cluster.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface ClusterOptions {
  dir: string;
  port: number;
  log?: (line: string) => void;
}

const HOST = '127.0.0.1';
const logger = (opts: ClusterOptions) => opts.log ?? ((line: string) => console.error(`[postgres] ${line}`));

function paths(opts: ClusterOptions) {
  const root = path.resolve(opts.dir);
  return { root, data: path.join(root, 'data'), logFile: path.join(root, 'postgres.log') };
}

// initdb/pg_ctl are often not on PATH (Debian keeps them in /usr/lib/postgresql/<major>/bin).
function pgBin(name: string): string {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(d || '.', name);
    if (fs.existsSync(p)) return p;
  }
  const base = '/usr/lib/postgresql';
  const majors = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const major of majors) {
    const p = path.join(base, major, 'bin', name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(
    `PostgreSQL's ${name} not found on PATH or in ${base}/*/bin: install the PostgreSQL server (apt-get install ` +
      `postgresql)`,
  );
}

const asRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

// initdb and pg_ctl refuse to run as root, so as root they run as the postgres user.
function pg(name: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const bin = pgBin(name);
  const [cmd, argv] = asRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return new Promise((resolve, reject) => {
    // Safe to wait for 'close': with -l, pg_ctl points the postmaster's stdout/stderr at the log file.
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b) => {
      output += b;
    });
    child.stderr.on('data', (b) => {
      output += b;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

function chownToPostgres(dir: string): void {
  if (!asRoot()) return;
  const passwd = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!passwd)
    throw new Error("running as root needs a 'postgres' system user to run initdb/pg_ctl (apt-get install postgresql)");
  const [, , uid, gid] = passwd.split(':');
  fs.chownSync(dir, Number(uid), Number(gid));
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log output)';
  }
}

export function isAccepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: HOST });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function connectionString(opts: ClusterOptions, database?: string): string {
  return `postgres://postgres@${HOST}:${opts.port}/${database || 'postgres'}`;
}

export async function initCluster(opts: ClusterOptions): Promise<void> {
  const p = paths(opts);
  if (fs.existsSync(path.join(p.data, 'PG_VERSION'))) return;
  fs.mkdirSync(p.root, { recursive: true });
  chownToPostgres(p.root);
  logger(opts)(`initdb ${p.data}`);
  const { code, output } = await pg(
    'initdb',
    ['-D', p.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C'],
    p.root,
  );
  if (code !== 0) {
    throw new Error(
      `initdb failed (exit ${code}) for ${p.data}:\n${output.trimEnd()}\n` +
        '(as root, every parent directory must be searchable by the postgres user)',
    );
  }
  // Loopback only, and the socket in our own dir: nothing collides with the system cluster's /var/run/postgresql.
  fs.appendFileSync(
    path.join(p.data, 'postgresql.conf'),
    [
      '',
      '# vigil private cluster (infra/postgres/cluster.ts)',
      `listen_addresses = '${HOST}'`,
      `unix_socket_directories = '${p.root}'`,
      `port = ${opts.port}`,
      '',
    ].join('\n'),
  );
}

async function isRunning(p: ReturnType<typeof paths>): Promise<boolean> {
  if (!fs.existsSync(path.join(p.data, 'postmaster.pid'))) return false;
  return (await pg('pg_ctl', ['status', '-D', p.data], p.root)).code === 0;
}

export async function startCluster(opts: ClusterOptions): Promise<void> {
  const p = paths(opts);
  await initCluster(opts);
  if (await isRunning(p)) return;
  const started = Date.now();
  // -p wins over postgresql.conf, so one data dir can be restarted on another port.
  const { code, output } = await pg(
    'pg_ctl',
    ['start', '-w', '-t', '60', '-D', p.data, '-l', p.logFile, '-o', `-p ${opts.port}`],
    p.root,
  );
  if (code !== 0) {
    throw new Error(
      `PostgreSQL failed to start on ${HOST}:${opts.port} (pg_ctl exit ${code}): ${output.trim()}\n` +
        `Last lines of ${p.logFile}:\n${tail(p.logFile)}`,
    );
  }
  logger(opts)(
    `PostgreSQL ready on ${HOST}:${opts.port} in ${((Date.now() - started) / 1000).toFixed(1)}s (data ${p.data})`,
  );
}

export async function stopCluster(opts: ClusterOptions, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  const p = paths(opts);
  if (!(await isRunning(p))) return;
  const { code, output } = await pg('pg_ctl', ['stop', '-w', '-t', '60', '-D', p.data, '-m', mode], p.root);
  if (code !== 0)
    throw new Error(
      `pg_ctl stop -m ${mode} failed (exit ${code}): ${output.trim()}\nLast lines of ${p.logFile}:\n${tail(p.logFile)}`,
    );
  logger(opts)(`PostgreSQL on ${HOST}:${opts.port} stopped (${mode})`);
}
