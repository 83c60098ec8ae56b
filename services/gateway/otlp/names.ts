/**
 * Prometheus names for OTLP metrics, following the OpenTelemetry specification's Prometheus and OpenMetrics
 * compatibility rules:
 *   - metric names: every run of characters outside [a-zA-Z0-9_:] becomes one `_`; a leading digit gets a `_`
 *     prefix; the unit, translated (`ms` → `milliseconds`, `By` → `bytes`, `1/s` → `per_second`, `{requests}`
 *     annotations dropped), is appended unless the name already ends with it; monotonic sums end in `_total`,
 *     gauges of unit `1` in `_ratio`;
 *   - label names: every character outside [a-zA-Z0-9_] becomes `_`; a leading digit gets a `key_` prefix and a
 *     leading `_` a `key` prefix (`__` is Prometheus' reserved prefix); attributes whose names collide join their
 *     values with `;` in the order of the original keys.
 */
import { anyValueToLabel, type KeyValue } from './values.ts';

const UNITS: Record<string, string> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};

const PER_UNITS: Record<string, string> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

export type NameKind = 'counter' | 'gauge' | 'other';

/**
 * A bounded memo of string results: a process sees the same few metric names and attribute keys over and over.
 * Emptied when full; keys longer than CACHE_MAX_KEY_CHARS are worked out each time, not kept.
 */
class Memo {
  private readonly cache = new Map<string, string>();

  get(key: string, compute: (key: string) => string): string {
    let result = this.cache.get(key);
    if (result === undefined) {
      result = compute(key);
      if (key.length > CACHE_MAX_KEY_CHARS) return result;
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(key, result);
    }
    return result;
  }
}

const CACHE_MAX_ENTRIES = 10_000;
const CACHE_MAX_KEY_CHARS = 256;
const metricNames = new Memo();
const labelNames = new Memo();

/** The Prometheus name of an OTLP metric. */
export function metricName(name: string, unit: string, kind: NameKind): string {
  return metricNames.get(`${kind}\u0000${unit}\u0000${name}`, () => buildName(name, unit, kind));
}

function buildName(name: string, unit: string, kind: NameKind): string {
  let out = name.replace(/[^a-zA-Z0-9_:]+/g, '_');
  if (/^[0-9]/.test(out)) out = `_${out}`;
  if (out === '') out = '_';
  if (kind === 'counter' && out.endsWith('_total')) out = out.slice(0, -'_total'.length);
  const suffix = unitSuffix(unit);
  if (suffix !== '' && !out.endsWith(`_${suffix}`)) out = `${out}_${suffix}`;
  if (kind === 'gauge' && unit.trim() === '1' && !out.endsWith('_ratio')) out = `${out}_ratio`;
  if (kind === 'counter') out = `${out}_total`;
  return out;
}

function unitSuffix(unit: string): string {
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '' || bare === '1') return '';
  const slash = bare.indexOf('/');
  let words: string;
  if (slash < 0) words = UNITS[bare] ?? bare;
  else {
    const main = bare.slice(0, slash).trim();
    const per = bare.slice(slash + 1).trim();
    const perWord = PER_UNITS[per] ?? UNITS[per] ?? per;
    words = main === '' || main === '1' ? `per_${perWord}` : `${UNITS[main] ?? main}_per_${perWord}`;
  }
  return words.replace(/[^a-zA-Z0-9_:]+/g, '_').replace(/^_+|_+$/g, '');
}

/** The Prometheus label name of an attribute key. */
export function labelName(key: string): string {
  return labelNames.get(key, buildLabelName);
}

function buildLabelName(key: string): string {
  let out = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (out === '') return 'key_';
  if (/^[0-9]/.test(out)) out = `key_${out}`;
  else if (out.startsWith('_')) out = `key${out}`;
  return out;
}

/** Attributes as labels: sanitised names, values as strings, colliding names joined in original-key order. */
export function attributesToLabels(
  attributes: KeyValue[] | null | undefined,
  maxDepth: number,
  into: Record<string, string> = {},
): Record<string, string> {
  if (!attributes || attributes.length === 0) return into;
  // Keys that are label names already (the usual case) cannot collide: no bookkeeping for them.
  let renamed = false;
  for (let i = 0; i < attributes.length && !renamed; i++) renamed = labelName(attributes[i].key) !== attributes[i].key;
  if (!renamed) {
    for (const kv of attributes) into[kv.key] = anyValueToLabel(kv.value, maxDepth);
    return into;
  }
  let collided: Map<string, [string, string][]> | null = null;
  const seen = new Map<string, string>();
  for (const kv of attributes) {
    const name = labelName(kv.key);
    const value = anyValueToLabel(kv.value, maxDepth);
    const earlier = seen.get(name);
    if (earlier !== undefined && earlier !== kv.key) {
      collided ??= new Map();
      const list = collided.get(name) ?? [[earlier, into[name]]];
      list.push([kv.key, value]);
      collided.set(name, list);
    }
    seen.set(name, kv.key);
    into[name] = value;
  }
  if (collided) {
    for (const [name, list] of collided)
      into[name] = list
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .map((e) => e[1])
        .join(';');
  }
  return into;
}
