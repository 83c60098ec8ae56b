// `node --import tsx infra/kafka/cli.ts up|down|status` (npm run kafka:up / kafka:down / kafka:status).
// Settings come from shared/config.ts only, so the CLI and the services agree on dir and ports.
import { loadConfig } from '../../shared/config.ts';
import { brokerStatus, startBroker, stopBroker } from './broker.ts';

const USAGE = 'usage: node --import tsx infra/kafka/cli.ts up|down|status';

async function main(command: string | undefined): Promise<number> {
  if (command !== 'up' && command !== 'down' && command !== 'status') {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  const local = config.kafka.local;
  if (!local.managed) {
    console.log(
      `KAFKA_BROKERS=${config.kafka.brokers.join(',')} points at another broker; ` +
        `nothing local is ${command === 'up' ? 'started' : 'managed'}.`,
    );
    return 0;
  }
  const where = `127.0.0.1:${local.port}`;
  if (command === 'up') {
    const { pid, reused } = await startBroker(local);
    console.log(
      `Kafka broker ${reused ? 'already running' : 'ready'} on ${where}${pid ? ` (pid ${pid})` : ''}; log: ` +
        `${local.dir}/broker.log`,
    );
    return 0;
  }
  if (command === 'down') {
    const stopped = await stopBroker(local);
    console.log(stopped ? `Kafka broker on ${where} stopped.` : `No Kafka broker from ${local.dir} was running.`);
    return 0;
  }
  const status = await brokerStatus(local);
  if (status.running) console.log(`Kafka broker running on ${where} (pid ${status.pid}); log: ${status.logFile}`);
  else if (status.pid)
    console.log(`Kafka broker pid ${status.pid} is alive but not accepting on ${where} yet; log: ${status.logFile}`);
  else console.log(`Kafka broker not running (dir ${local.dir}); log: ${status.logFile}`);
  // Like `pg_ctl status`: 3 means "not running", so scripts can branch on it.
  return status.running ? 0 : 3;
}

main(process.argv[2]).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
