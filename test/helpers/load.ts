/** Produces numbered JSON events (no id: the writer assigns one, so a record stored twice would show as two rows). */
import { Partitioners, type Kafka } from 'kafkajs';

export interface LoadOptions {
  total: number;
  chunk: number;
  /** Pause between chunks, to spread the load over time. */
  pauseMs: number;
  sources?: number;
  onChunk?(sent: number): Promise<void> | void;
}

export async function produceNumberedEvents(kafka: Kafka, topic: string, opts: LoadOptions): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let sent = 0; sent < opts.total; ) {
      const messages = [];
      for (let i = 0; i < opts.chunk && sent < opts.total; i++, sent++) {
        const source = `svc-${sent % (opts.sources ?? 12)}`;
        messages.push({
          key: source,
          value: JSON.stringify({ event_type: 'log', source, level: 'info', message: `event ${sent}` }),
        });
      }
      await producer.send({ topic, acks: -1, messages });
      await opts.onChunk?.(sent);
      if (opts.pauseMs > 0) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  } finally {
    await producer.disconnect();
  }
}
