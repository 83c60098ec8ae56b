import { describe, expect, it } from 'vitest';
import { VigilError } from '../../../shared/errors.ts';
import { ruleFields } from './rule-input.ts';
import type { RuleDefinition } from './rule.ts';

const opts = { maxRangeMs: 3_600_000 };

function details(body: unknown, base: RuleDefinition | null = null): unknown {
  try {
    ruleFields(body, base, opts);
  } catch (error) {
    if (error instanceof VigilError) return error.details;
    throw error;
  }
  throw new Error('expected a 400');
}

describe('rule request bodies', () => {
  it('takes the contract fields with defaults for the rest', () => {
    const { fields, compiled } = ruleFields(
      {
        name: 'High CPU Usage',
        description: 'CPU usage above 80% for more than 5 minutes',
        query: 'cpu_usage > 80',
        threshold_value: 80.0,
      },
      null,
      opts,
    );
    expect(fields).toEqual({
      name: 'High CPU Usage',
      description: 'CPU usage above 80% for more than 5 minutes',
      query: 'cpu_usage > 80',
      threshold_value: 80,
      forMs: 0,
      keepFiringForMs: 0,
      severity: 'medium',
      labels: {},
      annotations: {},
      enabled: true,
    });
    expect(compiled.expr).toMatchObject({ kind: 'binary', op: '>', rhs: { kind: 'number', value: 80 } });
  });

  it('accepts durations as PromQL text or seconds, whole seconds up to a week', () => {
    expect(ruleFields({ name: 'a', query: 'x > 1', for: '5m', keep_firing_for: 90 }, null, opts).fields).toMatchObject({
      forMs: 300_000,
      keepFiringForMs: 90_000,
    });
    expect(details({ name: 'a', query: 'x > 1', for: '500ms' })).toEqual([
      { field: 'for', message: expect.stringContaining('whole seconds') },
    ]);
    expect(details({ name: 'a', query: 'x > 1', for: '8d' })).toEqual([
      { field: 'for', message: expect.stringContaining('up to 1w') },
    ]);
    expect(details({ name: 'a', query: 'x > 1', keep_firing_for: -1 })).toEqual([
      { field: 'keep_firing_for', message: expect.any(String) },
    ]);
  });

  it('checks labels, annotations, severity and enabled', () => {
    expect(
      details({
        name: 'a',
        query: 'x > 1',
        labels: { 'bad-name': 'x', __x: 'y', ok: 3 },
        annotations: 'no',
        severity: 'urgent',
        enabled: 'yes',
      }),
    ).toEqual([
      { field: 'severity', message: 'must be one of low, medium, high, critical, got "urgent"' },
      { field: 'labels.bad-name', message: expect.stringContaining('label name must match') },
      { field: 'labels.__x', message: expect.stringContaining('not start with __') },
      { field: 'labels.ok', message: expect.stringContaining('must be a string') },
      { field: 'annotations', message: 'must be an object of strings, got "no"' },
      { field: 'enabled', message: 'must be true or false, got "yes"' },
    ]);
  });

  it('merges an update over the stored rule and re-checks the query with the merged threshold', () => {
    const base: RuleDefinition = {
      id: 'r',
      name: 'cpu',
      description: null,
      query: 'cpu_usage',
      threshold_value: 80,
      forMs: 0,
      keepFiringForMs: 0,
      severity: 'high',
      labels: { team: 'ops' },
      annotations: {},
      enabled: true,
      createdBy: null,
      createdAt: new Date(0),
      updatedAt: new Date(0),
      revision: '1',
    };
    expect(ruleFields({ for: '1m' }, base, opts).fields).toMatchObject({
      name: 'cpu',
      query: 'cpu_usage',
      threshold_value: 80,
      forMs: 60_000,
      severity: 'high',
      labels: { team: 'ops' },
    });
    // Dropping the threshold leaves a bare selector with nothing to compare.
    expect(details({ threshold_value: null }, base)).toEqual([
      expect.objectContaining({ field: 'query', message: expect.stringContaining('no comparison'), position: 9 }),
    ]);
  });

  it('refuses a non-object body', () => {
    expect(details([1])).toEqual([{ field: '(body)', message: expect.stringContaining('got an array') }]);
  });
});
