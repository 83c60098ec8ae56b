/**
 * A cheap reachability probe for /readyz: a TCP connect to any bootstrap broker. Kafka clients reconnect lazily
 * and do not report a dead broker until they send, so readiness asks the network directly.
 */
import net from 'node:net';
import { NotReadyError } from '../http/readiness.ts';

export function probeBrokers(brokers: readonly string[], timeoutMs = 1000): Promise<void> {
  const attempts = brokers.map(
    (broker) =>
      new Promise<void>((resolve, reject) => {
        const sep = broker.lastIndexOf(':');
        const socket = net.connect({
          host: broker.slice(0, sep).replace(/^\[|\]$/g, ''),
          port: Number(broker.slice(sep + 1)),
        });
        const fail = (error: Error) => (socket.destroy(), reject(error));
        socket.setTimeout(timeoutMs, () => fail(new Error(`${broker} did not answer within ${timeoutMs} ms`)));
        socket.once('error', fail);
        socket.once('connect', () => (socket.end(), resolve()));
      }),
  );
  return Promise.any(attempts).catch(() => {
    throw new NotReadyError('no Kafka broker reachable', { cause: new Error(`no answer from ${brokers.join(', ')}`) });
  });
}
