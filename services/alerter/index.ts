/**
 * The alerter role: the alerter consumer group (its own group id, ALERTER_GROUP_ID) over the metrics and events
 * topics, a tick (ALERTER_TICK_MS), the notification dispatcher, and the alert rule REST routes
 * (/api/v1/monitoring/alerts, served by every process that runs this role). stop() stops fetching, finishes the
 * job under way, gives deliveries under way a few seconds, then leaves the group.
 */
import { BatchConsumer } from '../../shared/kafka/consumer.ts';
import { BatchingProducer } from '../../shared/kafka/producer.ts';
import { RecordSeal } from '../../shared/kafka/seal.ts';
import { probeBrokers } from '../../shared/kafka/probe.ts';
import type { RoleDeps, RoleHandle } from '../../shared/role.ts';
import { NotReadyError } from '../../shared/http/readiness.ts';
import { settleWithin } from '../../shared/wait.ts';
import { Alerter } from './alerter.ts';
import { StateStore } from './engine/state-store.ts';
import { createAlerterMetrics } from './metrics.ts';
import { AlertmanagerClient } from './notify/alertmanager.ts';
import { Dispatcher } from './notify/dispatcher.ts';
import type { RetryPolicy } from './notify/http.ts';
import { WebhookClient } from './notify/webhook.ts';
import { ruleRoutes } from './routes.ts';
import { RuleStore } from './rules/rule-store.ts';
import { ruleInfo } from './engine/engine.ts';

import { BYTES_PER_MIB } from '../../shared/units.ts';

export interface AlerterDeps extends RoleDeps {
  /** Injectable for tests; Date.now otherwise. */
  clock?: () => number;
  retry?: RetryPolicy;
}

const DRAIN_TIMEOUT_MS = 5000;

export async function startAlerter(deps: AlerterDeps): Promise<RoleHandle & { alerter: Alerter }> {
  const { config, pool } = deps;
  const settings = config.alerter;
  const logger = deps.logger.child({ role: 'alerter' });
  const metrics = createAlerterMetrics(deps.registry);
  const parse = { maxRangeMs: settings.maxRangeMs };
  const rules = new RuleStore(pool);
  const states = new StateStore(pool);
  // With KAFKA_SEAL_SECRET the alerter seals its records: only sealed records may carry a system actor.
  const seal = RecordSeal.of(config.kafka.sealSecret);
  const producer = new BatchingProducer(deps.kafka, { timeoutMs: config.ingest.produceTimeoutMs, seal });
  let alerter: Alerter | null = null;
  const dispatcher = new Dispatcher({
    store: states,
    producer,
    eventsTopic: config.kafka.topics.events,
    eventCodec: deps.codecs.get('Event')!,
    eventBundleCodec: deps.codecs.get('EventBundle')!,
    webhook: settings.webhook ? new WebhookClient(settings.webhook.url, settings.webhook.secret) : null,
    alertmanager: settings.alertmanagerUrl ? new AlertmanagerClient(settings.alertmanagerUrl) : null,
    resendMs: settings.resendMs,
    groupWaitMs: settings.notifyGroupWaitMs,
    logger,
    metrics,
    ruleInfo: (id) => {
      const rule = alerter?.engine.rule(id);
      return rule ? ruleInfo(rule) : undefined;
    },
    retry: deps.retry,
  });
  alerter = new Alerter({
    kafka: deps.kafka,
    topics: { metrics: config.kafka.topics.metrics, events: config.kafka.topics.events },
    rules,
    states,
    dispatcher,
    decode: {
      metricCodecs: { item: deps.codecs.get('Metric')!, bundle: deps.codecs.get('MetricBundle')! },
      eventCodecs: { item: deps.codecs.get('Event')!, bundle: deps.codecs.get('EventBundle')! },
      metricLimits: config.ingest.metricLimits,
      eventLimits: config.ingest.eventLimits,
      eventRetentionDays: config.storage.eventRetentionDays,
      metricRetentionDays: config.storage.metricRetentionDays,
      futureGraceSeconds: config.ingest.futureGraceSeconds,
      seal,
      eventsTopic: config.kafka.topics.events,
    },
    parse,
    lookbackMs: settings.lookbackMs,
    resendMs: settings.resendMs,
    tickMs: settings.tickMs,
    maxInstancesPerRule: settings.maxInstancesPerRule,
    logger,
    metrics,
    clock: deps.clock ?? Date.now,
  });
  const consumer = new BatchConsumer(
    deps.kafka,
    {
      groupId: settings.groupId,
      topics: [config.kafka.topics.metrics, config.kafka.topics.events],
      maxWaitMs: 100,
      maxBytesPerPartition: BYTES_PER_MIB,
      sessionTimeoutMs: settings.sessionTimeoutMs,
      onBatch: (batch, control) => alerter!.onBatch(batch, control),
      onAssignment: (assignment) => alerter!.onAssignment(assignment),
    },
    logger,
  );
  alerter.consumer = consumer;

  await producer.connect();
  await alerter.init();
  let ticking = false;
  let timer: NodeJS.Timeout | undefined;
  /** Joins the group once the host serves HTTP (RoleHandle.start); stop() waits for it, within its deadline. */
  let starting: Promise<void> | null = null;
  async function start(): Promise<void> {
    await consumer.start();
    timer = setInterval(() => {
      if (ticking) return; // a slow tick is not stacked behind itself
      ticking = true;
      alerter!
        .tick()
        .catch((error) => logger.warn({ err: error }, 'alerter tick failed'))
        .finally(() => (ticking = false));
    }, settings.tickMs);
  }

  return {
    name: 'alerter',
    alerter,
    routes: [
      ruleRoutes({
        pool,
        parse,
        preview: { rules, lookbackMs: settings.lookbackMs },
        onChange: () => alerter!.rulesChanged(),
        limits: { windowMs: config.rateLimits.windowMs, alertPreview: config.rateLimits.alertPreview },
      }),
    ],
    readiness: {
      postgres: async () => void (await pool.query('SELECT 1')),
      kafka: () => probeBrokers(config.kafka.brokers),
      alerter: async () => {
        const why = consumer.notConsuming;
        if (why) throw new NotReadyError(`alerter: ${why}`);
        const unowned = alerter!.unowned;
        if (unowned.length > 0) {
          // Topic names and partition numbers are the deployment's own configuration, not internals to hide.
          throw new NotReadyError(
            `the alerter holds ${unowned.length} partition(s) it does not own ` +
              `(claim pending or lost to another member): ${unowned.join(', ')}`,
          );
        }
      },
    },
    start: () => (starting ??= start()),
    async stop() {
      await settleWithin(starting, DRAIN_TIMEOUT_MS);
      clearInterval(timer);
      await consumer.pause();
      await settleWithin(alerter!.idle(), DRAIN_TIMEOUT_MS);
      alerter!.stop();
      await dispatcher.close(DRAIN_TIMEOUT_MS);
      await consumer.stop();
      await producer.close();
    },
  };
}
