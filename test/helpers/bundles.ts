/** Unpacks records read back from the events or metrics topic into their items, with where each item travelled. */
import type { Codec } from '../../shared/schemas/avro.ts';
import type { TopicRecord } from './read-topic.ts';

export interface TravelledItem {
  partition: number;
  offset: string;
  key: string | null;
  /** Position in the record's bundle. */
  index: number;
  item: Record<string, unknown>;
}

/** Every item of `records` (Avro bundles named by their vigil-schema header), in partition and offset order. */
export function unbundle(records: TopicRecord[], bundle: Codec): TravelledItem[] {
  const sorted = [...records].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  return sorted.flatMap((record) => {
    const decoded = bundle.decode(record.value, record.headers['vigil-schema']) as Record<
      string,
      Record<string, unknown>[]
    >;
    return decoded[bundle.itemsField!].map((item, index) => ({
      partition: record.partition,
      offset: record.offset,
      key: record.key,
      index,
      item: { ...item },
    }));
  });
}
