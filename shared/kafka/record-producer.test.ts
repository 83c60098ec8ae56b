import crypto from 'node:crypto';
import { compatibilityPartitioner, MultipleErrors, ProtocolError, ResponseError } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { keyPartition } from './partitioner.ts';
import { headerMap, refusedWith } from './record-producer.ts';

/** Where RecordProducer's client puts a keyed record: its partitioner, then modulo the partition count. */
const placed = (key: string, count: number) =>
  compatibilityPartitioner({ topic: 't', key: Buffer.from(key) }, Buffer.from(key)) % count;

describe('RecordProducer', () => {
  it("puts a keyed record in the partition KafkaJS's DefaultPartitioner (Java's) picked", () => {
    const keys = [
      '',
      'a',
      'web-1',
      'Ünïcødé-源-🙂',
      ...Array.from({ length: 2000 }, () => crypto.randomBytes(1 + crypto.randomInt(40)).toString('base64')),
    ];
    for (const count of [1, 3, 6, 7, 64]) {
      const differing = keys.filter((key) => placed(key, count) !== keyPartition(key, count));
      expect({ count, differing }).toEqual({ count, differing: [] });
    }
  });

  it('sends header names and values as UTF-8 bytes', () => {
    const map = headerMap({ 'vigil-schema': 'vigil.EventBundle.v1', 'vigil-producer': 'gâteway' });
    expect([...map].map(([k, v]) => [k.toString('hex'), v.toString('hex')])).toEqual([
      [Buffer.from('vigil-schema').toString('hex'), Buffer.from('vigil.EventBundle.v1').toString('hex')],
      [Buffer.from('vigil-producer').toString('hex'), Buffer.from('gâteway', 'utf8').toString('hex')],
    ]);
  });

  it("finds the broker's refusal of a record inside the client's per-broker and per-partition errors", () => {
    const response = new ResponseError(0, 9, { '/responses/0/partitions/1': [10, 'too large'] }, {});
    const failed = new MultipleErrors('Producing messages failed.', [
      new ProtocolError('NOT_ENOUGH_REPLICAS'),
      response,
    ]);
    expect(refusedWith(failed, 'MESSAGE_TOO_LARGE')).toBe(true);
    expect(refusedWith(failed, 'INVALID_RECORD')).toBe(false);
    expect(refusedWith(new Error('plain'), 'MESSAGE_TOO_LARGE')).toBe(false);
  });
});
