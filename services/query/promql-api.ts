/**
 * The Prometheus-compatible HTTP API under /prometheus/api/v1/ (Grafana's Prometheus data source URL is
 * <vigil>/prometheus; promtool takes the same URL). Wire contract, as Prometheus' HTTP API:
 *   success  200 {"status":"success","data":…}     data of query/query_range: {"resultType","result"}
 *   error    {"status":"error","errorType","error"}: 400 bad_data (bad parameter, syntax, unsupported function,
 *            too much data), 422 execution (e.g. many-to-many matching), 503 timeout (statement timeout) or
 *            unavailable (database down)
 * query and query_range accept GET parameters or a form POST (application/x-www-form-urlencoded). Times are Unix
 * seconds (fractions allowed) or RFC 3339; step and timeout are seconds or a duration (15s, 1m). Unknown
 * parameters are ignored, as Prometheus does (Grafana sends some of its own). Authentication is vigil's bearer token
 * (role user) like every other route; the 401/403 answers are vigil's envelope.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';
import {
  DEFAULT_LOOKBACK_MS,
  Evaluator,
  labelsKey,
  PromqlExecutionError,
  type RangeColumns,
  type SeriesResult,
  type SeriesSource,
  type Value,
} from '../../shared/promql/engine.ts';
import { selectorsOf, type Expr } from '../../shared/promql/expr.ts';
import { parseExpr } from '../../shared/promql/expr-parser.ts';
import { RuleSyntaxError } from '../../shared/promql/lexer.ts';
import { durationSchema, parseDurationOrSeconds, parseIsoTime } from '../../shared/schemas/primitives.ts';
import { schemaErrorDetails, type RequestPart } from '../../shared/http/validation.ts';
import { matches, type Labels } from '../../shared/promql/windows.ts';
import { formatValue } from './exposition.ts';
import { catalog, type CatalogSeries } from './promql-catalog.ts';
import { HourCache } from './hour-cache.ts';
import { Counter, Gauge, type Registry } from '../../shared/metrics.ts';
import { Budget, loadSeries, MAX_SAMPLES, tooLarge, type LoadOptions, type LoadRequest } from './promql-data.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';
import { BYTES_PER_MIB, MS_PER_SECOND } from '../../shared/units.ts';

export const PREFIX = '/prometheus/api/v1';
/** Prometheus' own limit on the points of one series in a range query. */
export const MAX_STEPS = 11_000;
/** Series × steps one query may evaluate (keeps a single request from holding the event loop for long). */
export const MAX_EVALUATIONS = 10_000_000;
export const BUILD_VERSION = '2.42.0';
/** An instant query's one instant as a range of one step (any positive width: no sample lies after the instant). */
const INSTANT_STEP_MS = 1000;

type Params = Record<string, string | string[] | undefined>;

export class BadData extends Error {
  override name = 'BadData';
}

function param(params: Params, name: string): string | undefined {
  const value = params[name];
  if (Array.isArray(value)) throw new BadData(`parameter ${name} must be given once`);
  return value;
}

export function parseTime(text: string, name: string): number {
  const seconds = Number(text);
  if (text.trim() !== '' && Number.isFinite(seconds)) return Math.round(seconds * MS_PER_SECOND);
  const ms = parseIsoTime(text);
  if (ms !== null) return ms;
  throw new BadData(`invalid parameter "${name}": cannot parse "${text}" to a valid timestamp`);
}

export function parseStep(text: string, name: string): number {
  const ms = parseDurationOrSeconds(text);
  if (ms === null) throw new BadData(`invalid parameter "${name}": cannot parse "${text}" to a valid duration`);
  return ms;
}

function required(params: Params, name: string): string {
  const value = param(params, name);
  if (value === undefined || value === '') throw new BadData(`invalid parameter "${name}": the parameter is required`);
  return value;
}

function matchParams(params: Params): string[] {
  const value = params['match[]'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function parseQuery(text: string): Expr {
  try {
    return parseExpr(text);
  } catch (error) {
    if (error instanceof RuleSyntaxError) throw new BadData(`invalid parameter "query": ${error.message}`);
    throw error;
  }
}

const sec = (ms: number): number => ms / MS_PER_SECOND;

function toResult(value: Value, t: number) {
  switch (value.type) {
    case 'scalar':
      return { resultType: 'scalar', result: [sec(t), formatValue(value.value)] };
    case 'string':
      return { resultType: 'string', result: [sec(t), value.value] };
    case 'vector':
      return {
        resultType: 'vector',
        result: value.samples.map((s) => ({ metric: s.labels, value: [sec(t), formatValue(s.value)] })),
      };
  }
}

/** A `data` value already serialised: answers of a million points are built as text, not as arrays of arrays. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** {"resultType":"matrix","result":[…]}, series ordered by their labels; the same bytes JSON.stringify would give. */
function toMatrix(series: SeriesResult[]): JsonText {
  const keyed = series.map((s) => ({ key: labelsKey(s.labels), s }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : 1));
  const parts: string[] = [];
  for (const { s } of keyed) {
    let values = '';
    for (let i = 0; i < s.times.length; i++) {
      values += `${i ? ',' : ''}[${sec(s.times[i])},"${formatValue(s.values[i])}"]`;
    }
    parts.push(`{"metric":${JSON.stringify(s.labels)},"values":[${values}]}`);
  }
  return new JsonText(`{"resultType":"matrix","result":[${parts.join(',')}]}`);
}

/**
 * toMatrix of a result a series at a time: each instant's `[seconds,"` is written once, and a column's numbers are
 * formatted by one JSON.stringify (the same text as String for finite numbers; NaN and ±Inf, which it writes as
 * null, through formatValue).
 */
function columnsToMatrix({ instants, columns }: RangeColumns): JsonText {
  const opens = Array.from(instants, (t) => `[${sec(t)},"`);
  const keyed = columns.map((c) => ({ key: labelsKey(c.labels), c }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : 1));
  const parts: string[] = [];
  for (const { c } of keyed) {
    const texts = JSON.stringify(Array.from(c.values)).slice(1, -1).split(',');
    const points: string[] = [];
    for (let k = 0; k < opens.length; k++) {
      if (!c.present[k]) continue;
      const text = texts[k] === 'null' ? formatValue(c.values[k]) : texts[k];
      points.push(`${opens[k]}${text}"]`);
    }
    parts.push(`{"metric":${JSON.stringify(c.labels)},"values":[${points.join(',')}]}`);
  }
  return new JsonText(`{"resultType":"matrix","result":[${parts.join(',')}]}`);
}

/** A range query over loaded series, answered as the `data` of query_range. */
export function rangeAnswer(source: SeriesSource, expr: Expr, start: number, end: number, stepMs: number): JsonText {
  const evaluator = new Evaluator(source);
  const columns = evaluator.rangeColumns(expr, start, end, stepMs);
  return columns ? columnsToMatrix(columns) : toMatrix(evaluator.rangeSteps(expr, start, end, stepMs));
}

/**
 * What each selector reads when the expression is evaluated at start, start + step, … ≤ end; instant selectors
 * say at which instants, so the loader keeps one sample per series and step (promql-data.ts, step reduction).
 */
export function loadRequests(expr: Expr, start: number, end: number, stepMs: number): LoadRequest[] {
  return selectorsOf(expr).map(({ selector, rangeMs }) => ({
    selector,
    fromMs: start - selector.offsetMs - (rangeMs || DEFAULT_LOOKBACK_MS),
    toMs: end - selector.offsetMs,
    ...(rangeMs ? {} : { steps: { startMs: start - selector.offsetMs, stepMs } }),
  }));
}

function checkUnique(samples: { labels: Labels }[]): void {
  const seen = new Set<string>();
  for (const s of samples) {
    const key = labelsKey(s.labels);
    if (seen.has(key)) throw new PromqlExecutionError('vector cannot contain metrics with the same labelset');
    seen.add(key);
  }
}

export interface QueryLimits {
  /** Samples one query may hold (promql-data.ts MAX_SAMPLES). */
  maxSamples: number;
  /** Stored samples one query may read (promql-data.ts MAX_SAMPLES_READ). */
  maxSamplesRead?: number;
  /** Bytes of decoded hour rows kept between queries (hour-cache.ts; QUERY_HOUR_CACHE_MB, default 128 MiB). */
  hourCacheBytes?: number;
}

/** QUERY_HOUR_CACHE_MB's default. */
const DEFAULT_HOUR_CACHE_MB = 128;
const DEFAULT_HOUR_CACHE_BYTES = DEFAULT_HOUR_CACHE_MB * BYTES_PER_MIB;
const DEFAULT_LIMITS: QueryLimits = { maxSamples: MAX_SAMPLES };
const budgetOf = (limits: QueryLimits) => new Budget(limits.maxSamples, limits.maxSamplesRead);

export async function instantQuery(
  pool: Pool,
  params: Params,
  now: number,
  limits = DEFAULT_LIMITS,
  options: LoadOptions = {},
) {
  const expr = parseQuery(required(params, 'query'));
  const timeText = param(params, 'time');
  const t = timeText === undefined || timeText === '' ? now : parseTime(timeText, 'time');
  const source = await loadSeries(pool, loadRequests(expr, t, t, INSTANT_STEP_MS), budgetOf(limits), options);
  const value = new Evaluator(source).instant(expr, t);
  if (value.type === 'vector') checkUnique(value.samples);
  return toResult(value, t);
}

export async function rangeQuery(pool: Pool, params: Params, limits = DEFAULT_LIMITS, options: LoadOptions = {}) {
  const expr = parseQuery(required(params, 'query'));
  const start = parseTime(required(params, 'start'), 'start');
  const end = parseTime(required(params, 'end'), 'end');
  const step = parseStep(required(params, 'step'), 'step');
  if (end < start) throw new BadData('invalid parameter "end": end timestamp must not be before start time');
  if (step <= 0)
    throw new BadData(
      'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive ' +
        'integer',
    );
  const steps = Math.floor((end - start) / step) + 1;
  if (steps > MAX_STEPS) {
    throw new BadData(
      `exceeded maximum resolution of ${MAX_STEPS} points per timeseries. ` +
        'Try decreasing the query resolution (?step=XX)',
    );
  }
  const source = await loadSeries(pool, loadRequests(expr, start, end, step), budgetOf(limits), options);
  const selected = selectorsOf(expr).reduce((n, { selector }) => n + source.select(selector).length, 0);
  if (selected * steps > MAX_EVALUATIONS) {
    throw tooLarge(
      `the query would evaluate ${selected} series at ${steps} steps (more than ${MAX_EVALUATIONS}): make the step ` +
        `longer, the range shorter, or add label matchers`,
    );
  }
  return rangeAnswer(source, expr, start, end, step);
}

/** The series match[] selects (all when none is given) in [start, end]. */
async function matchingSeries(pool: Pool, params: Params, requireMatch: boolean): Promise<CatalogSeries[]> {
  const matchers = matchParams(params).map((m) => {
    const expr = parseQuery(m);
    if (expr.kind !== 'vector') throw new BadData(`invalid parameter "match[]": ${m} is not a series selector`);
    return expr;
  });
  if (requireMatch && matchers.length === 0) throw new BadData('no match[] parameter provided');
  const startText = param(params, 'start');
  const endText = param(params, 'end');
  const start = startText ? parseTime(startText, 'start') : null;
  const end = endText ? parseTime(endText, 'end') : null;
  const names = matchers.length > 0 && matchers.every((m) => m.name !== null) ? matchers.map((m) => m.name!) : null;
  const all = await catalog(pool, { startMs: start, endMs: end, names });
  if (matchers.length === 0) return all;
  return all.filter((s) => matchers.some((m) => m.matchers.every((x) => matches(x, s.labels[x.label]))));
}

export async function seriesList(pool: Pool, params: Params): Promise<Labels[]> {
  const series = (await matchingSeries(pool, params, true)).map((s) => s.labels);
  return series.sort((a, b) => (labelsKey(a) < labelsKey(b) ? -1 : 1));
}

export async function labelNames(pool: Pool, params: Params): Promise<string[]> {
  const names = new Set<string>();
  for (const s of await matchingSeries(pool, params, false)) for (const k of Object.keys(s.labels)) names.add(k);
  return [...names].sort();
}

export async function labelValues(pool: Pool, params: Params, name: string): Promise<string[]> {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new BadData(`invalid label name: "${name}"`);
  const values = new Set<string>();
  for (const s of await matchingSeries(pool, params, false))
    if (s.labels[name] !== undefined) values.add(s.labels[name]);
  return [...values].sort();
}

export async function metadata(pool: Pool, params: Params) {
  const metric = param(params, 'metric');
  const limitText = param(params, 'limit');
  const limit = limitText ? Number(limitText) : Infinity;
  const out: Record<string, { type: string; help: string; unit: string }[]> = {};
  for (const s of await catalog(pool, { startMs: null, endMs: null, names: null })) {
    if (metric !== undefined && metric !== '' && s.family !== metric) continue;
    if (out[s.family]) continue;
    if (Object.keys(out).length >= limit) break;
    out[s.family] = [{ type: s.type, help: `${s.type} stored in vigil`, unit: '' }];
  }
  return out;
}

const BUILD_INFO = {
  version: BUILD_VERSION,
  revision: 'vigil',
  branch: 'vigil',
  buildUser: 'vigil',
  buildDate: '20230201-00:00:00',
  goVersion: 'none (vigil implements the Prometheus HTTP API in TypeScript)',
};

function errorType(error: unknown): { status: number; type: string; message: string } | null {
  if (error instanceof BadData) return { status: HTTP_STATUS.BAD_REQUEST, type: 'bad_data', message: error.message };
  if (error instanceof PromqlExecutionError) return { status: 422, type: 'execution', message: error.message };
  if (error instanceof VigilError) {
    if (error.code === 'VIGIL_ERR_VALIDATION')
      return { status: HTTP_STATUS.BAD_REQUEST, type: 'bad_data', message: error.message };
    if (error.code === 'VIGIL_ERR_QUERY_TIMEOUT')
      return { status: HTTP_STATUS.SERVICE_UNAVAILABLE, type: 'timeout', message: `query timed out: ${error.message}` };
    if (error.status === HTTP_STATUS.SERVICE_UNAVAILABLE)
      return { status: HTTP_STATUS.SERVICE_UNAVAILABLE, type: 'unavailable', message: error.message };
  }
  return null;
}

type Handler = (params: Params, request: FastifyRequest) => Promise<unknown>;

/** A failed schema validation (the routes attach it instead of answering) as Prometheus words it. */
function schemaBadData(error: NonNullable<FastifyRequest['validationError']>): BadData {
  const [first] = error.validation as { keyword: string }[];
  const [detail] = schemaErrorDetails(error.validation, error.validationContext as RequestPart);
  if (first.keyword !== 'required') return new BadData(`invalid parameter "${detail.field}": ${detail.message}`);
  // Prometheus' two wordings of a missing parameter.
  if (detail.field === 'match[]') return new BadData('no match[] parameter provided');
  return new BadData(`invalid parameter "${detail.field}": the parameter is required`);
}

function respond(handler: Handler) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const params: Params = { ...(request.query as Params), ...((request.body ?? {}) as Params) };
    try {
      if (request.validationError) throw schemaBadData(request.validationError);
      const data = await handler(params, request);
      if (data instanceof JsonText) {
        return reply.type('application/json; charset=utf-8').send(`{"status":"success","data":${data.text}}`);
      }
      return reply.send({ status: 'success', data });
    } catch (error) {
      const known = errorType(error);
      if (!known) throw error;
      if (known.status === HTTP_STATUS.SERVICE_UNAVAILABLE) reply.header('retry-after', '1');
      return reply.status(known.status).send({ status: 'error', errorType: known.type, error: known.message });
    }
  };
}

/** application/x-www-form-urlencoded bodies, repeated keys (match[]) as arrays. */
function addFormParser(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const out: Params = {};
    for (const [key, value] of new URLSearchParams(body as string)) {
      const prior = out[key];
      out[key] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
    }
    done(null, out);
  });
}

/**
 * The documented parameters of each endpoint. Fastify validates them (shared/http/validation.ts) but attaches a
 * failure instead of answering, so respond() words it as Prometheus does; unknown parameters are allowed (ignored).
 * GET declares the required ones; a POST may carry them in its form body or its URL, so its handler checks them.
 */
const time = { type: 'string', description: 'Unix seconds (fractions allowed) or RFC 3339.', examples: ['1704067200'] };
const step = { ...durationSchema, description: 'Query resolution: a duration (15s, 1m) or a number of seconds.' };
const timeout = {
  ...durationSchema,
  description: 'Accepted for compatibility; QUERY_STATEMENT_TIMEOUT_MS bounds every query.',
};
const match = {
  type: 'array',
  items: { type: 'string' },
  description: 'Series selectors (repeatable).',
  examples: [['up']],
};
const query = { type: 'string', description: 'A PromQL expression.', examples: ['up'] };
const range = { start: time, end: time };
const PARAMETERS: Record<string, { properties: Record<string, unknown>; required?: string[] }> = {
  '/query': { properties: { query, time, timeout }, required: ['query'] },
  '/query_range': { properties: { query, ...range, step, timeout }, required: ['query', 'start', 'end', 'step'] },
  '/series': { properties: { 'match[]': match, ...range }, required: ['match[]'] },
  '/labels': { properties: { 'match[]': match, ...range } },
  '/label/:name/values': { properties: { 'match[]': match, ...range } },
  '/metadata': { properties: { metric: { type: 'string', examples: ['up'] }, limit: { type: 'integer', minimum: 0 } } },
  '/query_exemplars': { properties: { query, ...range } },
};

function docs(summary: string, path: string, method: 'GET' | 'POST' = 'GET') {
  const params = PARAMETERS[path] ?? { properties: {} };
  const querystring = {
    type: 'object',
    properties: params.properties,
    ...(method === 'GET' && params.required ? { required: params.required } : {}),
  };
  const body =
    method === 'POST'
      ? {
          body: { type: 'object', nullable: true, properties: params.properties },
          consumes: ['application/x-www-form-urlencoded'],
        }
      : {};
  return {
    schema: { summary, tags: ['prometheus'], security: [{ bearerAuth: [] }], querystring, ...body },
    attachValidation: true,
  };
}

/** The hour cache on the process's GET /metrics: what it holds, and how often a panel's hour came from it. */
function hourCacheMetrics(cache: HourCache, registry: Registry): void {
  new Gauge({
    name: 'vigil_query_hour_cache_bytes',
    help: 'Bytes of decoded per-hour metric aggregates the query role keeps for PromQL (QUERY_HOUR_CACHE_MB)',
    registers: [registry],
    collect() {
      this.set(cache.bytes);
    },
  });
  const counter = (name: string, help: string, count: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(count());
      },
    });
  counter('vigil_query_hour_cache_hits_total', 'Hours PromQL queries took from the hour cache', () => cache.hits);
  counter('vigil_query_hour_cache_misses_total', 'Hours PromQL queries read from PostgreSQL', () => cache.misses);
}

export function promqlRoutes(
  pool: Pool,
  limits = DEFAULT_LIMITS,
  registry?: Registry,
  now: () => number = Date.now,
): FastifyPluginAsync {
  const hours = new HourCache(limits.hourCacheBytes ?? DEFAULT_HOUR_CACHE_BYTES);
  if (registry) hourCacheMetrics(hours, registry);
  const options: LoadOptions = { hours };
  return async (app) => {
    addFormParser(app);
    const both = (path: string, summary: string, handler: Handler) => {
      app.get(`${PREFIX}${path}`, docs(summary, path), respond(handler));
      app.post(`${PREFIX}${path}`, docs(summary, path, 'POST'), respond(handler));
    };
    both('/query', 'PromQL instant query (Prometheus HTTP API)', (p) => instantQuery(pool, p, now(), limits, options));
    both('/query_range', 'PromQL range query (Prometheus HTTP API)', (p) => rangeQuery(pool, p, limits, options));
    both('/series', 'Series matching match[] (Prometheus HTTP API)', (p) => seriesList(pool, p));
    both('/labels', 'Label names (Prometheus HTTP API)', (p) => labelNames(pool, p));
    const labelValuesDocs = docs('Values of one label (Prometheus HTTP API)', '/label/:name/values');
    app.get(
      `${PREFIX}/label/:name/values`,
      labelValuesDocs,
      respond((p, request) => labelValues(pool, p, (request.params as { name: string }).name)),
    );
    app.get(
      `${PREFIX}/metadata`,
      docs('Metric metadata (Prometheus HTTP API)', '/metadata'),
      respond((p) => metadata(pool, p)),
    );
    const buildDocs = docs('Build information (Prometheus HTTP API)', '/status/buildinfo');
    app.get(
      `${PREFIX}/status/buildinfo`,
      buildDocs,
      respond(async () => BUILD_INFO),
    );
    both('/query_exemplars', 'Exemplars: always empty (Prometheus HTTP API)', async () => []);
    const rulesDocs = docs('Recording and alerting rules: always empty (Prometheus HTTP API)', '/rules');
    app.get(
      `${PREFIX}/rules`,
      rulesDocs,
      respond(async () => ({ groups: [] })),
    );
  };
}
