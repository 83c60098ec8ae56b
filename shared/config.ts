/**
 * The one place that reads the environment. Every variable is declared in SETTINGS (name, default, meaning),
 * parsed once, and all invalid values are reported together. The README's configuration table is checked
 * against SETTINGS by a test, so a variable cannot exist without documentation.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadVerificationKeys } from './auth/keys.ts';
import type { VerificationKey } from './auth/verify.ts';
import { DEFAULT_SENSITIVE_KEYS } from './redact.ts';
import { DEFAULT_EVENT_LIMITS, type EventLimits } from './schemas/event.ts';
import { DEFAULT_METRIC_LIMITS, type MetricLimits } from './schemas/metric.ts';
import { DAYS_PER_LEAP_YEAR, DAYS_PER_WEEK, HOURS_PER_DAY, MS_PER_SECOND, SECONDS_PER_DAY } from './units.ts';

/**
 * Upper bounds of the source and metric name limits: both are part of btree keys (events (source, timestamp),
 * metrics (name, timestamp), rollups), and PostgreSQL refuses an entry over ~2.7 KB. 512 UTF-16 units are at most
 * 1536 bytes of UTF-8; metric names are ASCII.
 */
export const SOURCE_MAX_LENGTH_CAP = 512;
export const METRIC_NAME_MAX_LENGTH_CAP = 1024;

export const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const ROLES = ['gateway', 'writer', 'query', 'maintenance', 'alerter'] as const;
export type Role = (typeof ROLES)[number];

type Env = Record<string, string | undefined>;

interface Setting {
  name: string;
  default: string | undefined;
  doc: string;
}

export const SETTINGS: readonly Setting[] = [
  {
    name: 'NODE_ENV',
    default: 'development',
    doc:
      '`development` and `test` may run with the public development JWT secret; any other value (`production`, ' +
      '`staging`…) is a deployment and refuses every secret published with vigil.',
  },
  {
    name: 'VIGIL_ROLES',
    default: 'all',
    doc:
      'Roles this process runs: `all` or a comma list of `gateway`, `writer`, `query`, `maintenance`, `alerter` ' +
      '(the `--role` flag wins).',
  },
  { name: 'HOST', default: '127.0.0.1', doc: 'HTTP listen address (`0.0.0.0` in containers).' },
  { name: 'PORT', default: '8080', doc: 'HTTP listen port for the API, `/healthz`, `/readyz`.' },
  {
    name: 'OTLP_HTTP_PORT',
    default: undefined,
    doc:
      'A second listen port (on HOST) that serves only OTLP/HTTP `/v1/logs`, `/v1/metrics`, `/v1/traces`, e.g. 4318, ' +
      'the OTLP default; processes with the gateway role. Unset: OTLP only on PORT.',
  },
  { name: 'LOG_LEVEL', default: 'info', doc: 'pino level: fatal, error, warn, info, debug, trace, silent.' },
  {
    name: 'DATABASE_URL',
    default: undefined,
    doc:
      'PostgreSQL connection string. Unset: the local server on 127.0.0.1:5432, database `vigil` (created if ' +
      'absent).',
  },
  { name: 'DATABASE_POOL_MAX', default: '10', doc: 'Maximum connections in the query pool.' },
  {
    name: 'KAFKA_BROKERS',
    default: '127.0.0.1:9092',
    doc:
      'Comma list of bootstrap brokers. Pointing elsewhere than 127.0.0.1:KAFKA_LOCAL_PORT means no local broker ' +
      'is started.',
  },
  { name: 'KAFKA_CLIENT_ID', default: 'vigil', doc: 'Kafka client id prefix.' },
  { name: 'KAFKA_TOPIC_EVENTS', default: 'monitoring.events.v1', doc: 'Events topic (partitioned by source).' },
  { name: 'KAFKA_TOPIC_METRICS', default: 'monitoring.metrics.v1', doc: 'Metrics topic (key: series fingerprint).' },
  { name: 'KAFKA_TOPIC_DLQ', default: 'monitoring.dlq.v1', doc: 'Dead-letter topic.' },
  {
    name: 'KAFKA_SEAL_SECRET',
    default: undefined,
    doc:
      "Secret of vigil's processes, at least 32 bytes (`openssl rand -base64 48`): the gateway seals each " +
      'record it validated (header `vigil-seal`: a ChaCha20-Poly1305 tag bound to the topic, schema and producer) ' +
      'and the writer stores a sealed record as the gateway validated it rather than validating it again (less CPU ' +
      "per event); the alerter seals its records too, and only sealed records keep their items' created_by (no " +
      'direct producer can pass for the gateway or the alerter). A record without a valid seal is validated as any ' +
      "other. Unset: nothing is sealed, and the vigil-producer header alone names vigil's own records. Give every " +
      'vigil process the same one.',
  },
  {
    name: 'KAFKA_TOPIC_PARTITIONS',
    default: '6',
    doc: 'Partitions for topics vigil creates (bounds writer/alerter parallelism).',
  },
  { name: 'KAFKA_REPLICATION_FACTOR', default: '1', doc: 'Replication factor for topics vigil creates.' },
  {
    name: 'KAFKA_MIN_INSYNC_REPLICAS',
    default: undefined,
    doc:
      '`min.insync.replicas` of topics vigil creates: replicas that must have a record before an acks=all produce ' +
      '(every ingest) succeeds; with fewer in sync, ingest answers 503. At most KAFKA_REPLICATION_FACTOR (2 with 3 ' +
      "replicas: one broker may fail without losing an acknowledged record). Unset: the broker's default.",
  },
  {
    name: 'KAFKA_LOCAL_DIR',
    default: '.kafka',
    doc: 'Where the local broker keeps jars, data and `broker.log` (relative to the repository).',
  },
  { name: 'KAFKA_LOCAL_PORT', default: '9092', doc: 'Port of the locally managed broker.' },
  {
    name: 'KAFKA_LOCAL_CONTROLLER_PORT',
    default: '19093',
    doc: 'KRaft controller port of the local broker (not 9093, which Alertmanager uses).',
  },
  { name: 'KAFKA_LOCAL_HEAP_MB', default: '1024', doc: 'Maximum heap of the local broker JVM.' },
  {
    name: 'INGEST_PRODUCE_TIMEOUT_MS',
    default: '5000',
    doc: 'How long an ingest request waits for Kafka acks before answering 503 + Retry-After.',
  },
  {
    name: 'INGEST_BODY_LIMIT_BYTES',
    default: '5242880',
    doc: 'Largest ingest request body, on the wire and after gzip decompression, which stops there (→ 413).',
  },
  {
    name: 'INGEST_MAX_BATCH_ITEMS',
    default: '5000',
    doc:
      'Most events or metric samples in one ingest request (→ 413 at the first item past it: the rest is neither ' +
      'inflated nor parsed).',
  },
  {
    name: 'INGEST_SOURCE_MAX_LENGTH',
    default: String(DEFAULT_EVENT_LIMITS.sourceMaxLength),
    doc:
      'Longest event `source`, in characters (at most 512: the source is part of index keys, which PostgreSQL ' +
      'bounds).',
  },
  {
    name: 'INGEST_MESSAGE_MAX_LENGTH',
    default: String(DEFAULT_EVENT_LIMITS.messageMaxLength),
    doc: 'Longest event `message`, in characters.',
  },
  {
    name: 'INGEST_MAX_TAGS',
    default: String(DEFAULT_EVENT_LIMITS.maxTags),
    doc: "Most top-level keys in an event's `tags`.",
  },
  {
    name: 'INGEST_TAGS_MAX_BYTES',
    default: String(DEFAULT_EVENT_LIMITS.tagsMaxBytes),
    doc: 'Largest event `tags`, in bytes of JSON.',
  },
  {
    name: 'INGEST_PAYLOAD_MAX_BYTES',
    default: String(DEFAULT_EVENT_LIMITS.payloadMaxBytes),
    doc: 'Largest event `payload`, in bytes of JSON (the contract: no large payloads in events).',
  },
  {
    name: 'INGEST_MAX_DEPTH',
    default: '32',
    doc: 'Deepest nesting of objects and arrays inside `tags` and `payload` (at most 32: redaction walks that deep).',
  },
  {
    name: 'INGEST_METRIC_NAME_MAX_LENGTH',
    default: String(DEFAULT_METRIC_LIMITS.nameMaxLength),
    doc: 'Longest metric `name`, in characters (at most 1024: the name is part of index keys).',
  },
  {
    name: 'INGEST_MAX_LABELS',
    default: String(DEFAULT_METRIC_LIMITS.maxLabels),
    doc: 'Most labels on a metric sample.',
  },
  {
    name: 'INGEST_LABEL_VALUE_MAX_LENGTH',
    default: String(DEFAULT_METRIC_LIMITS.labelValueMaxLength),
    doc: 'Longest metric label value, in characters.',
  },
  {
    name: 'INGEST_MAX_INFLIGHT_REQUESTS',
    default: '1024',
    doc: 'Ingest requests a gateway works on at once; beyond it 429 + Retry-After.',
  },
  {
    name: 'INGEST_MAX_INFLIGHT_BYTES',
    default: '67108864',
    doc: 'Request body bytes (decompressed) a gateway holds at once; beyond it 429 + Retry-After.',
  },
  {
    name: 'INGEST_REDACT_KEYS',
    default: DEFAULT_SENSITIVE_KEYS.join(','),
    doc:
      'Comma list of sensitive key names: a key at any depth of `tags`/`payload` or a metric label whose ' +
      'lower-cased, punctuation-free form contains one of five or more characters, or has a shorter one as a whole ' +
      'word (`db_pass`, `basicAuth`; not `author`), is stored as `"[REDACTED]"`, and so is the `value` of a ' +
      '`{"name"|"key": <such a key>, "value": …}` object; `none` disables.',
  },
  {
    name: 'INGEST_REDACT_SECRETS',
    default: 'true',
    doc:
      'Redact bearer tokens, JWTs, AWS access key ids and card numbers that pass the Luhn check inside event ' +
      '`message` text (`true` or `false`).',
  },
  { name: 'WRITER_GROUP_ID', default: 'vigil-writer', doc: 'Consumer group of the writer.' },
  {
    name: 'WRITER_BATCH_MAX_ROWS',
    default: '5000',
    doc:
      "Rows per COPY batch at most: a partition's records accumulate across fetches until this many are waiting " +
      '(or the wait below passes).',
  },
  {
    name: 'WRITER_BATCH_MAX_WAIT_MS',
    default: '200',
    doc:
      "How long a partition's first waiting record waits for its batch to fill before the batch is written anyway " +
      '(also the Kafka fetch max wait).',
  },
  {
    name: 'WRITER_CONCURRENCY',
    default: '2',
    doc:
      'Batches (COPY transactions, one per partition at a time) the writer runs in parallel; each holds one ' +
      'PostgreSQL connection.',
  },
  {
    name: 'WRITER_SESSION_TIMEOUT_MS',
    default: '30000',
    doc:
      'Kafka consumer-group session timeout of the writer: how long a crashed writer holds its partitions before ' +
      'others take them over.',
  },
  { name: 'PARTITION_GRANULARITY', default: 'day', doc: 'Time partition size of events and metrics: `hour` or `day`.' },
  {
    name: 'PARTITION_CREATE_AHEAD_HOURS',
    default: '48',
    doc:
      'How far ahead of now the maintenance role keeps partitions created (the writer still creates any missing ' +
      'one on demand).',
  },
  {
    name: 'MAINTENANCE_INTERVAL_SECONDS',
    default: '300',
    doc:
      'How often the maintenance role creates partitions ahead and drops those past retention (one active ' +
      'instance, by advisory lock).',
  },
  {
    name: 'MONITORING_EVENT_RETENTION_DAYS',
    default: '30',
    doc: 'Events older than this are rejected at ingest and their partitions dropped.',
  },
  {
    name: 'METRICS_MAX_SERIES_PER_NAME',
    default: '10000',
    doc:
      'Distinct label sets (series) the writer stores per metric name; samples of a new series beyond it go to ' +
      'the DLQ with reason `series_limit` naming the metric (counted in ' +
      '`vigil_dlq_records_total{reason="series_limit"}`, logged as a warning). 0: no limit.',
  },
  {
    name: 'MONITORING_METRIC_RETENTION_DAYS',
    default: '90',
    doc: 'Metric samples older than this are rejected at ingest and their partitions dropped.',
  },
  {
    name: 'INGEST_IDEMPOTENCY_WINDOW_HOURS',
    default: '24',
    doc:
      'How long a producer-chosen `id` is remembered: an event or metric sample sent again with the same id ' +
      'within this window is stored once, whatever its timestamp (docs/ingest.md).',
  },
  {
    name: 'QUERY_STATEMENT_TIMEOUT_MS',
    default: '10000',
    doc:
      'Longest a query-API statement may run before PostgreSQL cancels it (the request answers 504 ' +
      'VIGIL_ERR_QUERY_TIMEOUT, asking for a narrower query).',
  },
  {
    name: 'QUERY_FOLD_INTERVAL_SECONDS',
    default: '15',
    doc:
      'How often the query role folds newly inserted metric samples into the per-series state the Prometheus ' +
      'exposition reads (scrapes stay exact in between: they add what was inserted since).',
  },
  {
    name: 'QUERY_HOUR_CACHE_MB',
    default: '128',
    doc:
      'Memory the query role keeps decoded per-hour metric aggregates in, so that a dashboard refreshing a PromQL ' +
      'panel reads only the hours it has not read before (each hour is checked against its version in the same ' +
      'snapshot; 0 reads every hour from PostgreSQL). A day of 1,000 gauge series holds ~23 MB.',
  },
  {
    name: 'INGEST_FUTURE_GRACE_SECONDS',
    default: '600',
    doc: 'How far in the future a timestamp may be before it is rejected.',
  },
  {
    name: 'INCIDENTS_GROUP_WINDOW_SECONDS',
    default: '300',
    doc:
      'Alert-opened incidents are grouped per rule: an alert of a rule that fires while the rule has an ' +
      'unresolved incident that opened less than this long ago, or that still has a firing alert, joins that ' +
      'incident (a timeline entry) instead of opening another. 0: one incident per alert series.',
  },
  {
    name: 'INCIDENTS_POLL_MS',
    default: '1000',
    doc:
      'How often processes running the `query` or `alerter` role apply new alert transitions to incidents (open, ' +
      'attach, resolve) and run the analysis of newly opened incidents.',
  },
  {
    name: 'INCIDENTS_EXPENSIVE_CONCURRENCY',
    default: '2',
    doc:
      'Root-cause analyses (automatic and `recompute=true`) and timeline pages a process runs at once, on ' +
      "PostgreSQL connections of their own (apart from the query API's), so they cannot starve it.",
  },
  {
    name: 'INCIDENTS_EXPENSIVE_QUEUE',
    default: '16',
    doc:
      'Analysis and timeline requests that may wait for one of those slots; beyond it 429 VIGIL_ERR_RATE_LIMITED ' +
      '+ Retry-After.',
  },
  {
    name: 'RATE_LIMIT_WINDOW_SECONDS',
    default: '60',
    doc:
      "Window of the per-subject rate limits below (per process, keyed by the token's `sub`): beyond the limit " +
      '429 VIGIL_ERR_SUBJECT_RATE_LIMITED + Retry-After until the window ends.',
  },
  {
    name: 'RATE_LIMIT_RECOMPUTE',
    default: '6',
    doc: '`GET …/incidents/{id}/analysis?recompute=true` per subject per window (0: unlimited).',
  },
  {
    name: 'RATE_LIMIT_ALERT_PREVIEW',
    default: '10',
    doc: '`POST …/alerts/preview` (backtests) per subject per window (0: unlimited).',
  },
  {
    name: 'RATE_LIMIT_METRIC_STEP',
    default: '120',
    doc: '`GET …/metrics` with `step` (downsampled series) per subject per window (0: unlimited).',
  },
  {
    name: 'QUERY_MESSAGE_SEARCH_MAX_HOURS',
    default: '24',
    doc:
      'Longest range (`start_time` to `end_time` or now) of an event listing with `message_contains`, which reads ' +
      'every message of the range; `start_time` is required with it.',
  },
  {
    name: 'AUDIT_RETENTION_DAYS',
    default: '90',
    doc: 'Audit log rows older than this are deleted by the maintenance role.',
  },
  {
    name: 'AUDIT_FLUSH_INTERVAL_MS',
    default: '1000',
    doc:
      'How often a process writes its pending audit rows (one INSERT per flush; repeated 401/403 answers within ' +
      'it are one row with a count).',
  },
  {
    name: 'JWT_SECRET',
    default: undefined,
    doc:
      'HS256 secret, at least 32 bytes (make one with `openssl rand -base64 48`). Unset: the public development ' +
      'secret when NODE_ENV is `development` or `test` (announced at startup), none when a public key is configured, ' +
      'else startup fails.',
  },
  { name: 'JWT_ISSUER', default: 'vigil', doc: 'Issuer `npm run token` writes; every token must carry it (`iss`).' },
  {
    name: 'JWT_PUBLIC_KEY_FILE',
    default: '',
    doc:
      'PEM public key or certificate (RSA ≥ 2048 bits → RS256, EC P-256 → ES256) that verifies tokens an identity ' +
      'provider signs. Empty: none.',
  },
  {
    name: 'JWT_JWKS_FILE',
    default: '',
    doc:
      'JSON Web Key Set file (RSA ≥ 2048 bits and EC P-256 keys, each with a `kid`), as an identity provider ' +
      "publishes it; a token's `kid` header picks the key. Empty: none.",
  },
  {
    name: 'ALERTER_GROUP_ID',
    default: 'vigil-alerter',
    doc:
      "Consumer group of the alerter (its own, apart from the writer's): alerter instances split the partitions " +
      'and the alert states that go with them.',
  },
  {
    name: 'ALERTER_SESSION_TIMEOUT_MS',
    default: '30000',
    doc:
      'Kafka consumer-group session timeout of the alerter: how long a crashed alerter holds its partitions (and ' +
      'their alerts) before another takes them over.',
  },
  {
    name: 'ALERTER_TICK_MS',
    default: '1000',
    doc:
      'How often the alerter evaluates every rule even without new data (so `for` elapses and stale series ' +
      'resolve) and picks up rule changes.',
  },
  {
    name: 'ALERTER_LOOKBACK_SECONDS',
    default: '300',
    doc:
      'How far back a plain selector (`cpu_usage > 80`) looks for the newest sample; a series silent for longer ' +
      'is stale and its alert resolves.',
  },
  {
    name: 'ALERTER_MAX_RANGE_SECONDS',
    default: '3600',
    doc:
      'Longest range a rule may use (`avg_over_time(x[1h])`): bounds the samples the alerter keeps and re-reads ' +
      'from Kafka after a restart.',
  },
  {
    name: 'ALERTER_RESEND_SECONDS',
    default: '60',
    doc:
      'While an alert fires it is re-sent to Alertmanager this often (its `endsAt` is 4 intervals ahead, as ' +
      'Prometheus does).',
  },
  {
    name: 'ALERTER_MAX_INSTANCES_PER_RULE',
    default: '1000',
    doc:
      'Alert instances (pending or firing label sets) one alerter member holds per rule at most; beyond it no ' +
      'instance is created and the rule fires ONE `vigil_alert="cardinality_exceeded"` alert instead (counted in ' +
      '`vigil_alerter_instances_refused_total`).',
  },
  {
    name: 'ALERTER_NOTIFY_GROUP_WAIT_MS',
    default: '2000',
    doc:
      'Notifications are grouped per rule: the first transition of a rule opens a window this long, and ' +
      'everything the rule does in it goes out as ONE webhook POST, ONE Alertmanager POST and at most 100 alert ' +
      'events (plus one summary).',
  },
  {
    name: 'ALERTER_ALERTMANAGER_URL',
    default: '',
    doc:
      'Base URL of an Alertmanager (e.g. `http://127.0.0.1:9093`); alerts are posted to `/api/v2/alerts`. Empty: ' +
      'none.',
  },
  {
    name: 'ALERTER_WEBHOOK_URL',
    default: '',
    doc: 'URL that receives a JSON POST for every alert that fires or resolves (retried with backoff). Empty: none.',
  },
  {
    name: 'ALERTER_WEBHOOK_SECRET',
    default: '',
    doc:
      'Key of the webhook\'s `X-Vigil-Signature: sha256=<hex HMAC of "<X-Vigil-Timestamp>.<body>">` header. ' +
      'Empty: unsigned.',
  },
];

export const DEV_JWT_SECRET = 'vigil-development-secret-do-not-use-in-production';
/** Secrets published with vigil (the development one, compose's old default): anyone can sign tokens with them. */
export const KNOWN_DEV_SECRETS: readonly string[] = [DEV_JWT_SECRET, 'change-me-change-me-change-me-change-me'];
/** NODE_ENV values that may run with a published secret; every other value is a deployment. */
export const DEVELOPMENT_ENVS: readonly string[] = ['development', 'test'];
const JWT_SECRET_MIN_BYTES = 32;
const SEAL_SECRET_MIN_BYTES = 32;
const MAKE_A_SECRET = 'make one with `openssl rand -base64 48` and pass it as JWT_SECRET';

export interface KafkaLocalConfig {
  managed: boolean;
  dir: string;
  port: number;
  controllerPort: number;
  heapMb: number;
}

export interface Config {
  env: string;
  roles: readonly Role[];
  http: { host: string; port: number; otlpPort: number | null };
  logLevel: string;
  database: { url: string; poolMax: number; isDefault: boolean };
  kafka: {
    brokers: string[];
    clientId: string;
    topics: { events: string; metrics: string; dlq: string };
    /** KAFKA_SEAL_SECRET; null: records are not sealed (shared/kafka/seal.ts). */
    sealSecret: string | null;
    partitions: number;
    replicationFactor: number;
    /** null: the broker's default. */
    minInsyncReplicas: number | null;
    local: KafkaLocalConfig;
  };
  ingest: {
    produceTimeoutMs: number;
    futureGraceSeconds: number;
    bodyLimitBytes: number;
    maxBatchItems: number;
    maxDepth: number;
    maxInFlightRequests: number;
    maxInFlightBytes: number;
    redactKeys: readonly string[];
    redactSecrets: boolean;
    eventLimits: EventLimits;
    metricLimits: MetricLimits;
  };
  writer: {
    groupId: string;
    batchMaxRows: number;
    batchMaxWaitMs: number;
    concurrency: number;
    sessionTimeoutMs: number;
  };
  query: {
    statementTimeoutMs: number;
    foldIntervalSeconds: number;
    messageSearchMaxHours: number;
    hourCacheMb: number;
  };
  rateLimits: { windowMs: number; recompute: number; alertPreview: number; metricStep: number };
  audit: { retentionDays: number; flushIntervalMs: number };
  storage: {
    granularity: 'hour' | 'day';
    createAheadHours: number;
    eventRetentionDays: number;
    metricRetentionDays: number;
    /** 0: no limit. */
    maxSeriesPerName: number;
    idempotencyWindowHours: number;
  };
  maintenance: { intervalSeconds: number };
  incidents: { pollMs: number; expensiveConcurrency: number; expensiveQueue: number; groupWindowMs: number };
  alerter: {
    groupId: string;
    sessionTimeoutMs: number;
    tickMs: number;
    lookbackMs: number;
    maxRangeMs: number;
    resendMs: number;
    maxInstancesPerRule: number;
    notifyGroupWaitMs: number;
    alertmanagerUrl: string | null;
    webhook: { url: string; secret: string | null } | null;
  };
  auth: { secret: string | null; isDevSecret: boolean; issuer: string; keys: readonly VerificationKey[] };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        `  - ${problems.join('\n  - ')}\nSee the configuration table in README.md.`,
    );
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Parses `env` (process.env in entry points, a plain object in tests); throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env, argv: readonly string[] = []): Config {
  const problems: string[] = [];
  const defaults = new Map(SETTINGS.map((s) => [s.name, s.default]));
  const raw = (name: string): string | undefined => {
    if (!defaults.has(name)) throw new Error(`config: ${name} is not declared in SETTINGS`);
    const value = env[name];
    return value === undefined || value === '' ? defaults.get(name) : value;
  };
  const str = (name: string): string => raw(name) ?? '';
  const int = (name: string, min: number, max: number): number => {
    const text = str(name);
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(text)} must be an integer from ${min} to ${max}`);
      return min;
    }
    return value;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[]): T => {
    const text = str(name);
    if (!(allowed as readonly string[]).includes(text)) {
      problems.push(`${name}=${JSON.stringify(text)} must be one of ${allowed.join(', ')}`);
      return allowed[0];
    }
    return text as T;
  };

  const httpUrl = (name: string): string | null => {
    const text = str(name);
    if (text === '') return null;
    if (!/^https?:\/\/[^\s]+$/.test(text)) {
      problems.push(`${name}=${JSON.stringify(text)} must be an http:// or https:// URL (or empty)`);
      return null;
    }
    return text.replace(/\/+$/, '');
  };

  const roles = parseRoles(roleArgument(argv) ?? str('VIGIL_ROLES'), problems);
  const brokers = str('KAFKA_BROKERS')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0 || brokers.some((b) => !/^[^:\s]+:\d+$/.test(b))) {
    problems.push(`KAFKA_BROKERS=${JSON.stringify(str('KAFKA_BROKERS'))} must be a comma list of host:port`);
  }
  // biome-ignore-start lint/style/noMagicNumbers: bounds of the setting named beside them (a port, replica counts)
  const localPort = int('KAFKA_LOCAL_PORT', 1, 65535);
  const replicationFactor = int('KAFKA_REPLICATION_FACTOR', 1, 100);
  const minInsyncReplicas =
    raw('KAFKA_MIN_INSYNC_REPLICAS') === undefined ? null : int('KAFKA_MIN_INSYNC_REPLICAS', 1, 100);
  // biome-ignore-end lint/style/noMagicNumbers: bounds of the setting named beside them (a port, replica counts)
  if (minInsyncReplicas !== null && minInsyncReplicas > replicationFactor) {
    problems.push(
      `KAFKA_MIN_INSYNC_REPLICAS=${minInsyncReplicas} exceeds KAFKA_REPLICATION_FACTOR=${replicationFactor}: ` +
        'no acks=all produce could ever succeed',
    );
  }
  const managed = brokers.length === 1 && isLocalBroker(brokers[0], localPort);
  const sealSecret = raw('KAFKA_SEAL_SECRET');
  if (sealSecret !== undefined && Buffer.byteLength(sealSecret) < SEAL_SECRET_MIN_BYTES) {
    problems.push(
      `KAFKA_SEAL_SECRET must be at least ${SEAL_SECRET_MIN_BYTES} bytes (it has ${Buffer.byteLength(sealSecret)}): ` +
        'make one with `openssl rand -base64 48`',
    );
  }

  const databaseUrl = raw('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }

  const nodeEnv = str('NODE_ENV');
  const development = DEVELOPMENT_ENVS.includes(nodeEnv);
  const secret = raw('JWT_SECRET');
  const keys = loadVerificationKeys(str('JWT_PUBLIC_KEY_FILE'), str('JWT_JWKS_FILE'), problems);
  if (secret !== undefined && Buffer.byteLength(secret) < JWT_SECRET_MIN_BYTES) {
    const bytes = Buffer.byteLength(secret);
    problems.push(`JWT_SECRET must be at least ${JWT_SECRET_MIN_BYTES} bytes (it has ${bytes}): ${MAKE_A_SECRET}`);
  } else if (secret !== undefined && !development && KNOWN_DEV_SECRETS.includes(secret)) {
    problems.push(
      'JWT_SECRET is a development secret published with vigil (anyone can mint tokens with it) and ' +
        `NODE_ENV=${nodeEnv} is not development: ${MAKE_A_SECRET}`,
    );
  }
  if (secret === undefined && keys.length === 0 && !development) {
    problems.push(
      `JWT_SECRET is required when NODE_ENV=${nodeEnv} (only ${DEVELOPMENT_ENVS.join(' and ')} may use the public ` +
        `development secret): ${MAKE_A_SECRET}, or set JWT_PUBLIC_KEY_FILE / JWT_JWKS_FILE`,
    );
  }

  // biome-ignore-start lint/style/noMagicNumbers: bounds of the setting named beside them (the name carries the unit)
  const config: Config = {
    env: nodeEnv,
    roles,
    http: {
      host: str('HOST'),
      port: int('PORT', 0, 65535),
      otlpPort: raw('OTLP_HTTP_PORT') === undefined ? null : int('OTLP_HTTP_PORT', 0, 65535),
    },
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS),
    database: {
      url: databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/vigil',
      poolMax: int('DATABASE_POOL_MAX', 1, 1000),
      isDefault: databaseUrl === undefined,
    },
    kafka: {
      brokers,
      clientId: str('KAFKA_CLIENT_ID'),
      topics: { events: str('KAFKA_TOPIC_EVENTS'), metrics: str('KAFKA_TOPIC_METRICS'), dlq: str('KAFKA_TOPIC_DLQ') },
      sealSecret: sealSecret ?? null,
      partitions: int('KAFKA_TOPIC_PARTITIONS', 1, 10_000),
      replicationFactor,
      minInsyncReplicas,
      local: {
        managed,
        dir: path.resolve(ROOT_DIR, str('KAFKA_LOCAL_DIR')),
        port: localPort,
        controllerPort: int('KAFKA_LOCAL_CONTROLLER_PORT', 1, 65535),
        heapMb: int('KAFKA_LOCAL_HEAP_MB', 256, 65536),
      },
    },
    ingest: {
      produceTimeoutMs: int('INGEST_PRODUCE_TIMEOUT_MS', 100, 120_000),
      futureGraceSeconds: int('INGEST_FUTURE_GRACE_SECONDS', 0, DAYS_PER_WEEK * SECONDS_PER_DAY),
      bodyLimitBytes: int('INGEST_BODY_LIMIT_BYTES', 1024, 256 * 1024 * 1024),
      maxBatchItems: int('INGEST_MAX_BATCH_ITEMS', 1, 100_000),
      maxDepth: int('INGEST_MAX_DEPTH', 1, 32),
      maxInFlightRequests: int('INGEST_MAX_INFLIGHT_REQUESTS', 1, 1_000_000),
      maxInFlightBytes: int('INGEST_MAX_INFLIGHT_BYTES', 1024, 64 * 1024 * 1024 * 1024),
      redactKeys:
        str('INGEST_REDACT_KEYS') === 'none'
          ? []
          : str('INGEST_REDACT_KEYS')
              .split(',')
              .map((k) => k.trim())
              .filter(Boolean),
      redactSecrets: oneOf('INGEST_REDACT_SECRETS', ['true', 'false'] as const) === 'true',
      eventLimits: {
        sourceMaxLength: int('INGEST_SOURCE_MAX_LENGTH', 1, SOURCE_MAX_LENGTH_CAP),
        messageMaxLength: int('INGEST_MESSAGE_MAX_LENGTH', 1, 100_000_000),
        maxTags: int('INGEST_MAX_TAGS', 1, 100_000),
        tagsMaxBytes: int('INGEST_TAGS_MAX_BYTES', 2, 100_000_000),
        payloadMaxBytes: int('INGEST_PAYLOAD_MAX_BYTES', 2, 100_000_000),
      },
      metricLimits: {
        nameMaxLength: int('INGEST_METRIC_NAME_MAX_LENGTH', 1, METRIC_NAME_MAX_LENGTH_CAP),
        maxLabels: int('INGEST_MAX_LABELS', 0, 10_000),
        labelValueMaxLength: int('INGEST_LABEL_VALUE_MAX_LENGTH', 1, 1_000_000),
      },
    },
    writer: {
      groupId: str('WRITER_GROUP_ID'),
      batchMaxRows: int('WRITER_BATCH_MAX_ROWS', 1, 1_000_000),
      batchMaxWaitMs: int('WRITER_BATCH_MAX_WAIT_MS', 1, 60_000),
      concurrency: int('WRITER_CONCURRENCY', 1, 64),
      sessionTimeoutMs: int('WRITER_SESSION_TIMEOUT_MS', 6000, 300_000),
    },
    query: {
      statementTimeoutMs: int('QUERY_STATEMENT_TIMEOUT_MS', 100, 3_600_000),
      foldIntervalSeconds: int('QUERY_FOLD_INTERVAL_SECONDS', 1, 3600),
      messageSearchMaxHours: int('QUERY_MESSAGE_SEARCH_MAX_HOURS', 1, HOURS_PER_DAY * DAYS_PER_LEAP_YEAR),
      hourCacheMb: int('QUERY_HOUR_CACHE_MB', 0, 1_048_576),
    },
    rateLimits: {
      windowMs: int('RATE_LIMIT_WINDOW_SECONDS', 1, 86_400) * MS_PER_SECOND,
      recompute: int('RATE_LIMIT_RECOMPUTE', 0, 1_000_000),
      alertPreview: int('RATE_LIMIT_ALERT_PREVIEW', 0, 1_000_000),
      metricStep: int('RATE_LIMIT_METRIC_STEP', 0, 1_000_000),
    },
    audit: {
      retentionDays: int('AUDIT_RETENTION_DAYS', 1, 36_500),
      flushIntervalMs: int('AUDIT_FLUSH_INTERVAL_MS', 10, 60_000),
    },
    storage: {
      granularity: oneOf('PARTITION_GRANULARITY', ['day', 'hour'] as const),
      createAheadHours: int('PARTITION_CREATE_AHEAD_HOURS', 1, HOURS_PER_DAY * DAYS_PER_LEAP_YEAR),
      eventRetentionDays: int('MONITORING_EVENT_RETENTION_DAYS', 1, 36_500),
      metricRetentionDays: int('MONITORING_METRIC_RETENTION_DAYS', 1, 36_500),
      maxSeriesPerName: int('METRICS_MAX_SERIES_PER_NAME', 0, 100_000_000),
      idempotencyWindowHours: int('INGEST_IDEMPOTENCY_WINDOW_HOURS', 1, HOURS_PER_DAY * DAYS_PER_LEAP_YEAR),
    },
    maintenance: { intervalSeconds: int('MAINTENANCE_INTERVAL_SECONDS', 1, 86_400) },
    incidents: {
      pollMs: int('INCIDENTS_POLL_MS', 50, 600_000),
      expensiveConcurrency: int('INCIDENTS_EXPENSIVE_CONCURRENCY', 1, 64),
      expensiveQueue: int('INCIDENTS_EXPENSIVE_QUEUE', 0, 10_000),
      groupWindowMs: int('INCIDENTS_GROUP_WINDOW_SECONDS', 0, DAYS_PER_WEEK * SECONDS_PER_DAY) * MS_PER_SECOND,
    },
    alerter: {
      groupId: str('ALERTER_GROUP_ID'),
      sessionTimeoutMs: int('ALERTER_SESSION_TIMEOUT_MS', 6000, 300_000),
      tickMs: int('ALERTER_TICK_MS', 50, 600_000),
      lookbackMs: int('ALERTER_LOOKBACK_SECONDS', 1, 86_400) * MS_PER_SECOND,
      maxRangeMs: int('ALERTER_MAX_RANGE_SECONDS', 1, DAYS_PER_WEEK * SECONDS_PER_DAY) * MS_PER_SECOND,
      resendMs: int('ALERTER_RESEND_SECONDS', 1, 86_400) * MS_PER_SECOND,
      maxInstancesPerRule: int('ALERTER_MAX_INSTANCES_PER_RULE', 1, 10_000_000),
      notifyGroupWaitMs: int('ALERTER_NOTIFY_GROUP_WAIT_MS', 0, 600_000),
      alertmanagerUrl: httpUrl('ALERTER_ALERTMANAGER_URL'),
      webhook:
        httpUrl('ALERTER_WEBHOOK_URL') === null
          ? null
          : { url: httpUrl('ALERTER_WEBHOOK_URL')!, secret: str('ALERTER_WEBHOOK_SECRET') || null },
    },
    auth: {
      secret: secret ?? (keys.length > 0 ? null : DEV_JWT_SECRET),
      isDevSecret: secret === undefined ? keys.length === 0 : KNOWN_DEV_SECRETS.includes(secret),
      issuer: str('JWT_ISSUER'),
      keys,
    },
  };
  // biome-ignore-end lint/style/noMagicNumbers: bounds of the setting named beside them (the name carries the unit)
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function roleArgument(argv: readonly string[]): string | undefined {
  const index = argv.findIndex((a) => a === '--role' || a.startsWith('--role='));
  if (index < 0) return undefined;
  const arg = argv[index];
  return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : (argv[index + 1] ?? '');
}

function parseRoles(text: string, problems: string[]): Role[] {
  if (text === 'all') return [...ROLES];
  const names = text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(ROLES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) {
    problems.push(`roles ${JSON.stringify(text)} must be "all" or a comma list of ${ROLES.join(', ')}`);
    return [...ROLES];
  }
  return [...new Set(names as Role[])];
}

function isLocalBroker(broker: string, port: number): boolean {
  const sep = broker.lastIndexOf(':');
  return LOCAL_HOSTS.has(broker.slice(0, sep)) && Number(broker.slice(sep + 1)) === port;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
