/**
 * Validation of the incident API's bodies and query strings. Every problem is collected and answered at once
 * (400 VIGIL_ERR_VALIDATION, one detail per field); unknown fields are refused so a typo is not silently ignored.
 */
import { validationError, type FieldError } from '../../shared/errors.ts';
import { parseIsoTime } from '../../shared/schemas/primitives.ts';
import { SEVERITIES, STATUSES, type Severity, type Status } from './lifecycle.ts';

import { DAYS_PER_LEAP_YEAR } from '../../shared/units.ts';

export const TITLE_MAX_CHARS = 200;
/** A time may lie this far in the future (clock skew between a client and vigil). */
const FUTURE_SLACK_MS = 60_000;
export const LIMIT_MAX = 200;
export const LIMIT_DEFAULT = 50;
export const OFFSET_MAX = 10_000;

export interface NewIncident {
  title: string;
  description: string | null;
  severity: Severity;
  assigned_to: string | null;
  sources: string[];
  tags: Record<string, string>;
  /** When the trouble began (default: now); the timeline starts an hour before it. */
  started_at: Date | null;
}

export interface IncidentPatch {
  title?: string;
  description?: string | null;
  severity?: Severity;
  status?: Status;
  root_cause?: string | null;
  assigned_to?: string | null;
  sources?: string[];
  tags?: Record<string, string>;
}

export interface ListFilters {
  status: Status[];
  severity: Severity[];
  assigned_to: string | null;
  start_time: Date | null;
  end_time: Date | null;
  limit: number;
  offset: number;
}

const TEXT_MAX = 10_000;
const NAME_MAX = 255;
const MAX_SOURCES = 50;
const MAX_TAGS = 20;
const DAY_MS = 86_400_000;

class Fields {
  readonly errors: FieldError[] = [];

  constructor(readonly body: Record<string, unknown>) {}

  fail(field: string, message: string): undefined {
    this.errors.push({ field, message });
    return undefined;
  }

  text(name: string, max: number, opts: { nullable: boolean }): string | null | undefined {
    const v = this.body[name];
    if (v === undefined) return undefined;
    if (v === null && opts.nullable) return null;
    if (typeof v !== 'string' || v.trim() === '' || v.length > max || v.includes('\u0000')) {
      return this.fail(
        name,
        `must be a non-empty string of at most ${max} characters${opts.nullable ? ' (or null to clear it)' : ''}`,
      );
    }
    return v;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.body[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
      return this.fail(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  sources(): string[] | undefined {
    const v = this.body.sources;
    if (v === undefined) return undefined;
    if (
      !Array.isArray(v) ||
      v.length > MAX_SOURCES ||
      v.some((s) => typeof s !== 'string' || s === '' || s.length > NAME_MAX || s.includes('\u0000'))
    ) {
      return this.fail(
        'sources',
        `must be an array of at most ${MAX_SOURCES} event sources (non-empty strings of at most ${NAME_MAX} ` +
          `characters)`,
      );
    }
    return [...new Set(v as string[])];
  }

  tags(): Record<string, string> | undefined {
    const v = this.body.tags;
    if (v === undefined) return undefined;
    const entries = v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : null;
    if (
      entries === null ||
      entries.length > MAX_TAGS ||
      entries.some(
        ([k, x]) =>
          k === '' ||
          k.length > NAME_MAX ||
          typeof x !== 'string' ||
          x.length > NAME_MAX ||
          k.includes('\u0000') ||
          x.includes('\u0000'),
      )
    ) {
      return this.fail(
        'tags',
        `must be an object of at most ${MAX_TAGS} string tags (key=value the correlated events carry), e.g. ` +
          `{"service": "api"}`,
      );
    }
    return Object.fromEntries(entries) as Record<string, string>;
  }

  unknown(known: readonly string[]): void {
    for (const name of Object.keys(this.body)) {
      if (!known.includes(name)) this.fail(name, `is not a known field (known: ${known.join(', ')})`);
    }
  }

  done(): void {
    if (this.errors.length > 0) throw validationError(this.errors);
  }
}

function objectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw validationError([{ field: '(body)', message: 'must be a JSON object' }]);
  }
  return body as Record<string, unknown>;
}

const CREATE_FIELDS = ['title', 'description', 'severity', 'assigned_to', 'sources', 'tags', 'started_at'] as const;

export function parseNewIncident(raw: unknown, nowMs: number): NewIncident {
  const f = new Fields(objectBody(raw));
  f.unknown(CREATE_FIELDS);
  const title =
    f.text('title', TITLE_MAX_CHARS, { nullable: false }) ??
    (f.body.title === undefined ? f.fail('title', 'is required') : undefined);
  const severity =
    f.oneOf('severity', SEVERITIES) ??
    (f.body.severity === undefined ? f.fail('severity', `is required (${SEVERITIES.join(', ')})`) : undefined);
  const description = f.text('description', TEXT_MAX, { nullable: true });
  const assigned = f.text('assigned_to', NAME_MAX, { nullable: true });
  const sources = f.sources();
  const tags = f.tags();
  let startedAt: Date | null = null;
  if (f.body.started_at !== undefined) {
    const v = f.body.started_at;
    const ms = typeof v === 'string' ? parseIsoTime(v) : null;
    if (ms === null || ms > nowMs + FUTURE_SLACK_MS || ms < nowMs - DAYS_PER_LEAP_YEAR * DAY_MS) {
      f.fail('started_at', 'must be an ISO 8601 date-time with a zone, not in the future and within the last year');
    } else startedAt = new Date(ms);
  }
  f.done();
  return {
    title: title!,
    severity: severity!,
    description: description ?? null,
    assigned_to: assigned ?? null,
    sources: sources ?? [],
    tags: tags ?? {},
    started_at: startedAt,
  };
}

const UPDATE_FIELDS = [
  'title',
  'description',
  'severity',
  'status',
  'root_cause',
  'assigned_to',
  'sources',
  'tags',
] as const;

export function parsePatch(raw: unknown): IncidentPatch {
  const f = new Fields(objectBody(raw));
  f.unknown(UPDATE_FIELDS);
  const patch: IncidentPatch = {};
  const set = <K extends keyof IncidentPatch>(key: K, value: IncidentPatch[K] | undefined) => {
    if (value !== undefined) patch[key] = value;
  };
  set('title', f.text('title', TITLE_MAX_CHARS, { nullable: false }) ?? undefined);
  set('description', f.text('description', TEXT_MAX, { nullable: true }));
  set('severity', f.oneOf('severity', SEVERITIES));
  set('status', f.oneOf('status', STATUSES));
  set('root_cause', f.text('root_cause', TEXT_MAX, { nullable: true }));
  set('assigned_to', f.text('assigned_to', NAME_MAX, { nullable: true }));
  set('sources', f.sources());
  set('tags', f.tags());
  if (f.errors.length === 0 && Object.keys(patch).length === 0) {
    f.fail('(body)', `must change at least one of ${UPDATE_FIELDS.join(', ')}`);
  }
  f.done();
  return patch;
}

/**
 * `status` and `severity` take comma lists (status=open,investigating); times bound started_at. The route's schema
 * (routes.ts) has refused unknown parameters and coerced limit and offset to integers.
 */
export function parseListFilters(query: Record<string, unknown>): ListFilters {
  const f = new Fields(query);
  const single = (name: string): string | undefined => {
    const v = typeof query[name] === 'number' ? String(query[name]) : query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') return f.fail(name, 'must be given once, non-empty');
    return v;
  };
  const list = <T extends string>(name: string, allowed: readonly T[]): T[] => {
    const v = single(name);
    if (v === undefined) return [];
    const items = v.split(',');
    const bad = items.filter((i) => !(allowed as readonly string[]).includes(i));
    if (bad.length > 0)
      f.fail(name, `must be one or a comma list of ${allowed.join(', ')}; unknown: ${bad.join(', ')}`);
    return items as T[];
  };
  const time = (name: string): Date | null => {
    const v = single(name);
    if (v === undefined) return null;
    const ms = parseIsoTime(v);
    const rule = 'must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z';
    if (ms === null) return f.fail(name, `${rule}, got ${JSON.stringify(v)}`) ?? null;
    return new Date(ms);
  };
  const int = (name: string, min: number, max: number, def: number): number => {
    const v = single(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max)
      return f.fail(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`) ?? def;
    return n;
  };
  const assigned = single('assigned_to');
  if (assigned !== undefined && assigned.length > NAME_MAX)
    f.fail('assigned_to', `must be at most ${NAME_MAX} characters`);
  const filters: ListFilters = {
    status: list('status', STATUSES),
    severity: list('severity', SEVERITIES),
    assigned_to: assigned ?? null,
    start_time: time('start_time'),
    end_time: time('end_time'),
    limit: int('limit', 1, LIMIT_MAX, LIMIT_DEFAULT),
    offset: int('offset', 0, OFFSET_MAX, 0),
  };
  f.done();
  return filters;
}

/** limit/offset of the timeline (the route's schema has refused unknown parameters and coerced these to integers). */
export function parsePage(
  query: Record<string, unknown>,
  opts: { defaultLimit: number; maxLimit: number; maxOffset: number },
): { limit: number; offset: number } {
  const f = new Fields(query);
  const int = (name: string, min: number, max: number, def: number): number => {
    const v = query[name];
    if (v === undefined) return def;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    return f.fail(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`) ?? def;
  };
  const page = {
    limit: int('limit', 1, opts.maxLimit, opts.defaultLimit),
    offset: int('offset', 0, opts.maxOffset, 0),
  };
  f.done();
  return page;
}
