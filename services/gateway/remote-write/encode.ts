/**
 * Builds remote-write bodies the way a sender does (protobufjs + snappyjs): for the tests and the bench.
 */
import snappy from 'snappyjs';
import { WRITE_REQUEST } from './proto.ts';

const FLOAT64_BYTES = 8;

export interface SeriesInput {
  labels: Record<string, string>;
  samples: { value: number; timestamp: number }[];
  /** Native histograms, as opaque bytes (the receiver only counts and refuses them). */
  histograms?: Uint8Array[];
}

export interface WriteRequestInput {
  timeseries?: SeriesInput[];
  metadata?: { type: number; metricFamilyName: string; help?: string; unit?: string }[];
}

/** The protobuf bytes of a WriteRequest (labels in the order given). */
export function encodeWriteRequest(input: WriteRequestInput): Buffer {
  const message = WRITE_REQUEST.fromObject({
    timeseries: (input.timeseries ?? []).map((s) => ({
      labels: Object.entries(s.labels).map(([name, value]) => ({ name, value })),
      samples: s.samples,
      histograms: s.histograms ?? [],
    })),
    metadata: input.metadata ?? [],
  });
  return Buffer.from(WRITE_REQUEST.encode(message).finish());
}

/** The body of a remote-write request: the WriteRequest in one snappy block. */
export function remoteWriteBody(input: WriteRequestInput): Buffer {
  return Buffer.from(snappy.compress(encodeWriteRequest(input)));
}

/** A double with exactly these bits (the staleness marker is 0x7ff0000000000002n). */
export function doubleFromBits(bits: bigint): number {
  const buffer = Buffer.alloc(FLOAT64_BYTES);
  buffer.writeBigUInt64LE(bits);
  return buffer.readDoubleLE(0);
}

export const STALE_MARKER_BITS = 0x7ff0000000000002n;

export const REMOTE_WRITE_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
};
