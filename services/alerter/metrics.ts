/**
 * The alerter's Prometheus metrics, registered on the process registry (labels bounded: kind, state, channel,
 * outcome — never rule ids).
 */
import { Counter, Gauge, Histogram, type Registry } from '../../shared/metrics.ts';

export interface AlerterMetrics {
  transitions: Counter<'to'>;
  notifications: Counter<'channel' | 'outcome'>;
  evaluationSeconds: Histogram<'kind'>;
  instances: Gauge<'state'>;
  instancesRefused: Counter;
  series: Gauge;
  aggregationsComplete: Gauge;
  fencedChanges: Counter<'partition'>;
  unownedPartitions: Gauge;
}

export function createAlerterMetrics(registry: Registry): AlerterMetrics {
  return {
    transitions: new Counter({
      name: 'vigil_alerter_transitions_total',
      help: 'Alert state transitions, by new state',
      labelNames: ['to'],
      registers: [registry],
    }),
    notifications: new Counter({
      name: 'vigil_alerter_notifications_total',
      help: 'Notifications by channel (webhook, alertmanager) and outcome',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    }),
    evaluationSeconds: new Histogram({
      name: 'vigil_alerter_evaluation_seconds',
      help:
        'Time to evaluate the rules for one consumed batch (kind=batch) or one tick (kind=tick), persistence ' +
        'included',
      labelNames: ['kind'],
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    instances: new Gauge({
      name: 'vigil_alerter_instances',
      help: 'Alert instances held by this alerter, by state',
      labelNames: ['state'],
      registers: [registry],
    }),
    instancesRefused: new Counter({
      name: 'vigil_alerter_instances_refused_total',
      help:
        'Result series that got no alert instance because their rule held ALERTER_MAX_INSTANCES_PER_RULE ' +
        '(counted per evaluation)',
      registers: [registry],
    }),
    series: new Gauge({
      name: 'vigil_alerter_window_series',
      help: 'Metric series and event streams held in the evaluation windows',
      registers: [registry],
    }),
    aggregationsComplete: new Gauge({
      name: 'vigil_alerter_aggregations_complete',
      help:
        '1 when this member evaluates the aggregating rules and owns every partition (their results are exact), ' +
        'else 0',
      registers: [registry],
    }),
    fencedChanges: new Counter({
      name: 'vigil_alerter_fenced_changes_total',
      help:
        'Alert state changes (instance upserts, transitions) not saved because another member had claimed their ' +
        'partition (`topic:partition`, or `aggregations`) after this one',
      labelNames: ['partition'],
      registers: [registry],
    }),
    unownedPartitions: new Gauge({
      name: 'vigil_alerter_unowned_partitions',
      help:
        'Partitions assigned to this member that it does not own (claim pending or lost to another member): ' +
        'not evaluated',
      registers: [registry],
    }),
  };
}
