/**
 * GET /api/v1/monitoring/metrics — stored samples, newest first, filtered by name, metric_type, time range and
 * labels (`label.<key>=<value>`, AND-combined); with `step` (+ `agg`), one downsampled series per label set
 * instead (downsample.ts). `name` uses the (name, timestamp) index and the time range prunes partitions.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { subjectRateLimit } from '../../shared/http/rate-limit.ts';
import { METRIC_TYPES, type MetricType } from '../../shared/schemas/metric.ts';
import {
  AGGREGATIONS,
  MAX_POINTS,
  QUANTILES,
  allowedTypes,
  appliesTo,
  bucketFamily,
  bucketQuantileSql,
  downsampleSql,
  toQuantileSeries,
  toSeries,
  type BucketRow,
  type LeRow,
} from './downsample.ts';
import {
  errorResponses,
  LABEL_VALUE_MAX_CHARS,
  listQuerySchema,
  metricSampleSchema,
  routeSchema,
  seriesSchema,
  successSchema,
} from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { run, Where } from './sql.ts';
import { HTTP_STATUS } from '../../shared/http/status.ts';
import { DAYS_PER_LEAP_YEAR, MS_PER_DAY } from '../../shared/units.ts';

const DEFAULT_SERIES_PAGE = 100;

const MAX_LIMIT = 1000;
const MAX_OFFSET = 10_000;
const MAX_LABEL_FILTERS = 16;
const DEFAULT_RANGE_MS = 3_600_000;
/**
 * Points in one downsampled answer at most (series on the page × points per series): the default page of 100
 * series at the most points a series may have (MAX_POINTS); a larger page needs a larger step or shorter range.
 */
export const MAX_SERIES_POINTS = DEFAULT_SERIES_PAGE * MAX_POINTS;

interface MetricRow {
  id: string;
  timestamp: Date;
  name: string;
  metric_type: MetricType;
  value: number;
  labels: Record<string, string>;
  created_by: string | null;
  created_at: Date;
}

export interface MetricFilters {
  name?: string;
  metricType?: MetricType;
  start?: Date;
  end?: Date;
  labels: [string, string][];
}

export function metricFilterSql(filters: MetricFilters, where = new Where()): Where {
  if (filters.name) where.add('name = ?', filters.name);
  if (filters.metricType) where.add('metric_type = ?', filters.metricType);
  if (filters.start) where.add('"timestamp" >= ?', filters.start);
  if (filters.end) where.add('"timestamp" <= ?', filters.end);
  for (const [key, value] of filters.labels) where.add('labels ->> ?::text = ?::text', key, value);
  return where;
}

/** Raw samples, newest first; exported for the plan tests. */
export function listSamplesSql(
  filters: MetricFilters,
  page: { limit: number; offset: number },
): { sql: string; values: unknown[] } {
  const where = metricFilterSql(filters);
  const sql = `SELECT id, "timestamp", name, metric_type, value, labels, created_by, created_at
                 FROM metrics ${where}
                ORDER BY "timestamp" DESC, id DESC
                LIMIT ${where.param(page.limit)} OFFSET ${where.param(page.offset)}`;
  return { sql, values: where.values };
}

export function metricRoutes(pool: Pool, limits: { windowMs: number; metricStep: number }): FastifyPluginAsync {
  const stepLimit = subjectRateLimit({
    max: limits.metricStep,
    windowMs: limits.windowMs,
    what: 'downsampled metric queries (with step)',
    applies: (request) => (request.query as Record<string, unknown>).step !== undefined,
  });
  return async (app) => {
    app.get(
      '/api/v1/monitoring/metrics',
      {
        config: stepLimit,
        ...routeSchema({
          summary: 'Metric samples, or downsampled series with step + agg',
          description:
            "Without `step`: samples newest first (the contract's query). With `step`: `data` is one series per " +
            'label set of `name`, ' +
            'points at step-aligned buckets reduced by `agg`; the range defaults to the hour before `end_time` ' +
            '(default now).',
          tags: ['metrics'],
          querystring: listQuerySchema('metrics'),
          response: {
            200: successSchema({ type: 'array', items: { oneOf: [metricSampleSchema, seriesSchema] } }),
            ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED),
          },
        }),
      },
      async (request) => {
        const params = new QueryParams(request.query as Record<string, unknown>);
        const filters: MetricFilters = {
          name: params.string('name'),
          metricType: params.oneOf('metric_type', METRIC_TYPES),
          start: params.time('start_time'),
          end: params.time('end_time'),
          labels: params.prefixed('label.', { maxPairs: MAX_LABEL_FILTERS, maxLength: LABEL_VALUE_MAX_CHARS }),
        };
        const limit = params.int('limit', { min: 1, max: MAX_LIMIT, default: DEFAULT_SERIES_PAGE });
        const offset = params.int('offset', { min: 0, max: MAX_OFFSET, default: 0 });
        const stepMs = params.duration('step', { minMs: 1000, maxMs: DAYS_PER_LEAP_YEAR * MS_PER_DAY });
        const agg = params.oneOf('agg', AGGREGATIONS);
        if (filters.start && filters.end && filters.end < filters.start)
          params.fail('end_time', 'must not be before start_time');

        if (!params.has('step')) {
          params.done();
          const { sql, values } = listSamplesSql(filters, { limit, offset });
          const rows = await run<MetricRow>(pool, sql, values);
          return { success: true, data: rows.map(sampleToJson) };
        }

        // The schema requires name with step: series of one metric are downsampled together.
        const end = filters.end ?? new Date();
        const start = filters.start ?? new Date(end.getTime() - DEFAULT_RANGE_MS);
        const points = stepMs === undefined ? 0 : Math.floor((end.getTime() - start.getTime()) / stepMs) + 1;
        if (stepMs !== undefined && (end.getTime() - start.getTime()) / stepMs > MAX_POINTS) {
          params.fail(
            'step',
            `gives more than ${MAX_POINTS} points per series over this range; use a larger step or a shorter range`,
          );
        } else if (points * limit > MAX_SERIES_POINTS) {
          params.fail(
            'step',
            `gives up to ${limit} series (limit) × ${points} points = ${points * limit} points, more than ` +
              `${MAX_SERIES_POINTS}; ` +
              `use a larger step, a shorter range, or a smaller limit (at most ` +
              `${Math.floor(MAX_SERIES_POINTS / points)} series ` +
              'at this step and range) and page through the series with offset',
          );
        }
        const aggregation = agg ?? 'avg';
        const types = allowedTypes(aggregation);
        if (types && filters.metricType && !types.includes(filters.metricType)) {
          params.fail('agg', `${aggregation} applies to ${types.join(' and ')} metrics, not ${filters.metricType}`);
        }
        params.done();

        const page = { stepMs: stepMs!, limit, offset };
        // Quantiles of a histogram kept as bucket counters (the SDK's aggregated histograms): asked by the family's
        // name (x_bucket), or by the histogram's name when it has no stored observations in the range.
        const fromBuckets = async () => {
          const where = metricFilterSql({
            ...filters,
            name: bucketFamily(filters.name!),
            metricType: undefined,
            start,
            end,
          });
          const leRows = await run<LeRow>(pool, bucketQuantileSql(where, page), where.values);
          return { success: true, data: toQuantileSeries(filters.name!, aggregation, leRows) };
        };
        const quantile = QUANTILES.includes(aggregation) && filters.metricType !== 'summary';
        if (quantile && filters.name!.endsWith('_bucket')) return fromBuckets();
        const where = metricFilterSql({ ...filters, start, end });
        const rows = await run<BucketRow>(pool, downsampleSql(where, { agg: aggregation, ...page }), where.values);
        if (rows.length === 0 && quantile) return fromBuckets();
        const wrong = rows.find((row) => !appliesTo(aggregation, row.metric_type));
        if (wrong) {
          params.fail(
            'agg',
            `${aggregation} applies to ${types!.join(' and ')} metrics; ${filters.name} is a ${wrong.metric_type}`,
          );
          params.done();
        }
        return { success: true, data: toSeries(filters.name!, rows) };
      },
    );
  };
}

function sampleToJson(row: MetricRow) {
  return {
    id: row.id,
    name: row.name,
    metric_type: row.metric_type,
    value: row.value,
    labels: row.labels,
    timestamp: row.timestamp.toISOString(),
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
  };
}
