import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { VigilError } from '../../../shared/errors.ts';
import { doubleFromBits, encodeWriteRequest, remoteWriteBody, STALE_MARKER_BITS } from './encode.ts';
import { checkHeaders, decodeWriteRequest, decompress, isStaleMarker, uncompressedLength } from './proto.ts';

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(VigilError);
    return { code: (error as VigilError).code, message: (error as VigilError).message };
  }
  throw new Error('did not throw');
}

describe('remote-write bodies', () => {
  it('decodes a snappy WriteRequest built by protobufjs and snappyjs', () => {
    const body = remoteWriteBody({
      timeseries: [{ labels: { __name__: 'up', job: 'node' }, samples: [{ value: 1, timestamp: 1_700_000_000_123 }] }],
      metadata: [{ type: 2, metricFamilyName: 'up', help: 'h' }],
    });
    const length = uncompressedLength(body, 1024);
    const message = decodeWriteRequest(decompress(body, length));
    expect(message.timeseries).toHaveLength(1);
    expect(message.timeseries[0].labels.map((l) => [l.name, l.value])).toEqual([
      ['__name__', 'up'],
      ['job', 'node'],
    ]);
    expect(message.timeseries[0].samples[0].value).toBe(1);
    expect(Number(message.timeseries[0].samples[0].timestamp)).toBe(1_700_000_000_123);
    expect(message.metadata.map((m) => [m.type, m.metricFamilyName])).toEqual([[2, 'up']]);
  });

  it('refuses a block whose preamble declares more than the limit, before decompressing', () => {
    // A 10-byte body that claims 100 MB: nothing is allocated for it.
    const bomb = Buffer.from([0x80, 0xad, 0xe2, 0x04, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05]);
    expect(refusal(() => uncompressedLength(bomb, 5 * 1024 * 1024))).toEqual({
      code: 'VIGIL_ERR_PAYLOAD_TOO_LARGE',
      message:
        'the snappy body declares 10000000 uncompressed bytes; at most 5242880 are accepted ' +
        "(INGEST_BODY_LIMIT_BYTES): lower the sender's max_samples_per_send",
    });
    // A real block of 2 MB of zeros compresses to ~100 kB: over a 1 MB limit by its preamble.
    const zeros = Buffer.from(snappy.compress(Buffer.alloc(2 * 1024 * 1024)));
    expect(zeros.length).toBeLessThan(200_000);
    expect(refusal(() => uncompressedLength(zeros, 1024 * 1024)).code).toBe('VIGIL_ERR_PAYLOAD_TOO_LARGE');
  });

  it('refuses an invalid preamble, a truncated block and undecodable protobuf as malformed', () => {
    expect(refusal(() => uncompressedLength(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 1024)).code).toBe(
      'VIGIL_ERR_MALFORMED_BODY',
    );
    // A literal of 10 bytes of which 3 arrived.
    const truncated = Buffer.from([10, 9 << 2, 1, 2, 3]);
    expect(refusal(() => decompress(truncated, uncompressedLength(truncated, 1024))).code).toBe(
      'VIGIL_ERR_MALFORMED_BODY',
    );
    expect(refusal(() => decodeWriteRequest(Buffer.from([0x0a, 0xff, 0xff]))).code).toBe('VIGIL_ERR_MALFORMED_BODY');
  });

  it('never outgrows the declared length: a stream longer than its preamble is cut there', () => {
    // Preamble 4 bytes, then a 10-byte literal and a copy of 64 more: the output is the 4 bytes allocated.
    const lying = Buffer.concat([Buffer.from([4, 9 << 2]), Buffer.alloc(10, 7), Buffer.from([(63 << 2) | 2, 1, 0])]);
    const out = decompress(lying, uncompressedLength(lying, 1024));
    expect([...out]).toEqual([7, 7, 7, 7]);
  });

  it('accepts remote-write 1.0 headers and refuses 2.0 and other encodings with 415', () => {
    expect(() => checkHeaders('application/x-protobuf', 'snappy')).not.toThrow();
    expect(() => checkHeaders('application/x-protobuf;proto=prometheus.WriteRequest', 'Snappy')).not.toThrow();
    expect(
      refusal(() => checkHeaders('application/x-protobuf;proto=io.prometheus.write.v2.Request', 'snappy')),
    ).toEqual({
      code: 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
      message:
        'Content-Type proto=io.prometheus.write.v2.Request is not supported: vigil receives remote-write 1.0 ' +
        '(proto=prometheus.WriteRequest); configure the sender with protobuf_message: prometheus.WriteRequest',
    });
    expect(refusal(() => checkHeaders('application/x-protobuf', 'gzip'))).toEqual({
      code: 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
      message: 'Content-Encoding must be snappy (the block format) for remote-write, got "gzip"',
    });
    expect(refusal(() => checkHeaders('application/x-protobuf', undefined)).message).toMatch(/got none$/);
  });

  it('recognises the staleness marker after a protobuf round trip, and only it', () => {
    const stale = doubleFromBits(STALE_MARKER_BITS);
    const bytes = encodeWriteRequest({
      timeseries: [
        {
          labels: { __name__: 'x' },
          samples: [
            { value: stale, timestamp: 1 },
            { value: Number.NaN, timestamp: 2 },
          ],
        },
      ],
    });
    expect(bytes.includes(Buffer.from([0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]))).toBe(true);
    const [first, second] = decodeWriteRequest(bytes).timeseries[0].samples;
    expect(isStaleMarker(first.value!)).toBe(true);
    expect(isStaleMarker(second.value!)).toBe(false);
    expect(isStaleMarker(doubleFromBits(0x7ff8000000000002n))).toBe(true);
    expect(isStaleMarker(Number.POSITIVE_INFINITY)).toBe(false);
    expect(isStaleMarker(2)).toBe(false);
  });
});
