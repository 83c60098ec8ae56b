/**
 * Keyset cursors for newest-first listings. A page ends at the (timestamp, id) of its last row; the next page asks
 * for rows strictly below that key, so rows arriving meanwhile never shift the pages (no gaps, no repeats), and
 * the cost of a deep page is that of the first one (an index range scan from the key), unlike OFFSET.
 *
 * Wire form (opaque to clients): base64url("v1.<epoch microseconds>.<uuid>.<filter fingerprint>"). Microseconds
 * because timestamptz keeps them; the fingerprint ties a cursor to the filters it was issued for.
 */
import crypto from 'node:crypto';
import { isUuid } from '../../shared/schemas/primitives.ts';

import { MICROS_PER_MS_BIGINT, MICROS_PER_SECOND_BIGINT, MS_PER_SECOND } from '../../shared/units.ts';

const LAST_MICRO_OF_MS = 999n;
const FINGERPRINT_CHARS = 12;
/** version.micros.id.fingerprint */
const CURSOR_PARTS = 4;
const MICRO_DIGITS = 6;
/** `2026-11-26T12:00:00`: an ISO 8601 time to the second. */
const ISO_SECONDS_CHARS = 19;

export interface CursorKey {
  /** Epoch microseconds of the last row's timestamp. */
  micros: bigint;
  id: string;
}

const VERSION = 'v1';
/**
 * The last microsecond of year 9999: beyond it a JS Date cannot carry the key (RangeError) nor PostgreSQL read its
 * ISO form (a 6-digit year). No stored row is older than 1970 or newer than that, so a key outside is crafted.
 */
export const MAX_CURSOR_MICROS =
  BigInt(Date.parse('9999-12-31T23:59:59.999Z')) * MICROS_PER_MS_BIGINT + LAST_MICRO_OF_MS;

export function filterFingerprint(filters: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, FINGERPRINT_CHARS);
}

export function encodeCursor(key: CursorKey, fingerprint: string): string {
  return Buffer.from(`${VERSION}.${key.micros}.${key.id}.${fingerprint}`).toString('base64url');
}

export type DecodedCursor = { ok: true; key: CursorKey } | { ok: false; message: string };

export function decodeCursor(text: string, fingerprint: string): DecodedCursor {
  const parts = /^[A-Za-z0-9_-]{1,200}$/.test(text) ? Buffer.from(text, 'base64url').toString('utf8').split('.') : [];
  const [version, micros, id, issuedFor] = parts;
  const inRange = /^\d{1,20}$/.test(micros ?? '') && BigInt(micros) <= MAX_CURSOR_MICROS;
  if (parts.length !== CURSOR_PARTS || version !== VERSION || !inRange || !isUuid(id)) {
    return { ok: false, message: 'is not a cursor this API issued (pass next_cursor from a previous page unchanged)' };
  }
  if (issuedFor !== fingerprint) {
    return {
      ok: false,
      message: 'was issued for other filters; repeat the filters of the first page with its next_cursor',
    };
  }
  return { ok: true, key: { micros: BigInt(micros), id: id.toLowerCase() } };
}

/** ISO 8601 with microseconds, exact (a JS Date would drop them). */
export function microsToIso(micros: bigint): string {
  const seconds = micros / MICROS_PER_SECOND_BIGINT;
  const fraction = (micros % MICROS_PER_SECOND_BIGINT).toString().padStart(MICRO_DIGITS, '0');
  return `${new Date(Number(seconds) * MS_PER_SECOND).toISOString().slice(0, ISO_SECONDS_CHARS)}.${fraction}Z`;
}
