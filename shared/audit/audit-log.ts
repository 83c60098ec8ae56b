/**
 * The audit log writer (table audit_log, migration 0014). Entries are buffered in the process and written by one
 * multi-row INSERT every AUDIT_FLUSH_INTERVAL_MS, so no request waits for the audit and no request can make the
 * database do more than one statement per interval:
 *   - record(): one row per action (alert rule and incident changes: rare, made by authenticated users); at most
 *     MAX_PENDING_ROWS wait for a flush, beyond which entries are dropped and counted
 *     (vigil_audit_entries_dropped_total) rather than held without bound;
 *   - count(): refused requests (401, 403), which anyone can produce at will, are aggregated per (action, actor,
 *     address, target, code) until the flush: one row with `count`, `at` (first) and `last_at` (last). At most
 *     MAX_AGGREGATES distinct keys per interval; the rest fold into one row per action with ip '*' (the count
 *     stays exact, the addresses are not kept), so a flood from many addresses still costs a bounded number of rows.
 * A failed flush is logged and its rows are kept for the next one (within the same bounds). stop() flushes.
 */
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { Counter, type Registry } from '../metrics.ts';

export interface AuditEntry {
  action: string;
  actor: string | null;
  role: string | null;
  ip: string | null;
  target: string | null;
  details?: Record<string, unknown>;
}

interface Row extends AuditEntry {
  at: Date;
  lastAt: Date;
  count: number;
  refusal: boolean;
}

export const MAX_PENDING_ROWS = 10_000;
export const MAX_AGGREGATES = 1_000;
const MAX_TEXT_LENGTH = 512;

const clip = (text: string | null) =>
  text === null || text.length <= MAX_TEXT_LENGTH ? text : `${text.slice(0, MAX_TEXT_LENGTH)}…`;

export class AuditLog {
  private pending: Row[] = [];
  private aggregates = new Map<string, Row>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly dropped: Counter<'kind'>;

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
    registry: Registry,
    private readonly flushIntervalMs: number,
  ) {
    this.dropped = new Counter({
      name: 'vigil_audit_entries_dropped_total',
      help: 'Audit entries not written: more were waiting than the buffer holds (kind: action or refusal)',
      labelNames: ['kind'],
      registers: [registry],
    });
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** One row for one action, written at the next flush. */
  record(entry: AuditEntry, at = new Date()): void {
    if (this.pending.length >= MAX_PENDING_ROWS) {
      this.dropped.inc({ kind: 'action' });
      return;
    }
    this.pending.push({
      ...entry,
      actor: clip(entry.actor),
      target: clip(entry.target),
      at,
      lastAt: at,
      count: 1,
      refusal: false,
    });
  }

  /** A refused request: counted into the row of its key until the next flush. */
  count(entry: AuditEntry, at = new Date()): void {
    const key = JSON.stringify([entry.action, entry.actor, entry.ip, entry.target, entry.details?.code ?? null]);
    let row = this.aggregates.get(key);
    if (!row && this.aggregates.size >= MAX_AGGREGATES) {
      const overflow = JSON.stringify([entry.action, '*']);
      row = this.aggregates.get(overflow);
      if (!row) {
        const details = { aggregated: 'more distinct requesters than one row each' };
        const folded = { action: entry.action, actor: null, role: null, ip: '*', target: null, details };
        row = { ...folded, at, lastAt: at, count: 0, refusal: true };
        this.aggregates.set(overflow, row);
      }
    } else if (!row) {
      row = { ...entry, actor: clip(entry.actor), target: clip(entry.target), at, lastAt: at, count: 0, refusal: true };
      this.aggregates.set(key, row);
    }
    row.count++;
    row.lastAt = at;
  }

  /** Writes what is waiting (one INSERT); concurrent calls share the flush under way. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = null));
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flushing;
    await this.flush();
  }

  private async write(): Promise<void> {
    const rows = [...this.pending, ...this.aggregates.values()];
    if (rows.length === 0) return;
    this.pending = [];
    this.aggregates = new Map();
    try {
      await this.pool.query(
        `INSERT INTO audit_log (at, last_at, action, actor, role, ip, target, count, details)
         SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::int[], $9::jsonb[])`,
        [
          rows.map((r) => r.at),
          rows.map((r) => r.lastAt),
          rows.map((r) => r.action),
          rows.map((r) => r.actor),
          rows.map((r) => r.role),
          rows.map((r) => r.ip),
          rows.map((r) => r.target),
          rows.map((r) => r.count),
          rows.map((r) => JSON.stringify(r.details ?? {})),
        ],
      );
    } catch (error) {
      this.logger.warn({ err: error, rows: rows.length }, 'audit log flush failed; rows kept for the next flush');
      const room = Math.max(0, MAX_PENDING_ROWS - this.pending.length);
      const kept = rows.slice(0, room);
      for (const row of rows.slice(room)) this.dropped.inc({ kind: row.refusal ? 'refusal' : 'action' });
      this.pending = [...kept, ...this.pending];
    }
  }
}
