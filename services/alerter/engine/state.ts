/**
 * The alert state machine of one (rule, instance), as Prometheus defines it, as a pure function of the previous
 * state, this evaluation's result and the time:
 *
 *   inactive ──active──▶ pending ──active for `for`──▶ firing ──not active for `keep_firing_for`──▶ resolved
 *       ▲                   │ not active                 (with for = 0: inactive → firing at once)
 *       └───────────────────┘
 *
 * Only pending and firing instances exist (as Instance); inactive and resolved are their absence. Each change of
 * state is a Transition; `dirty` says the instance changed in a way worth persisting: its state or keep-firing
 * start, or its value when the saved one is older than VALUE_SAVE_MS.
 */
import type { Labels, Origin } from '../../../shared/promql/windows.ts';

export type ActiveState = 'pending' | 'firing';
export type FromState = 'inactive' | ActiveState;
export type ToState = FromState | 'resolved';

export interface Instance {
  ruleId: string;
  fingerprint: string;
  labels: Labels;
  state: ActiveState;
  value: number;
  activeAt: number;
  firedAt: number | null;
  keepFiringSince: number | null;
  /** The partition whose owner evaluates the instance; null for aggregations. */
  origin: Origin | null;
  /** In memory only: when the instance's row was last saved (its value refreshes at most every VALUE_SAVE_MS). */
  savedAt?: number;
}

/**
 * A firing or pending instance whose value moves is saved again at most this often, so the API's active instances
 * show a value at most this old without a write per evaluation.
 */
export const VALUE_SAVE_MS = 10_000;

/** What notifications say about the rule, captured when the transition happened (the rule may change later). */
export interface RuleInfo {
  name: string;
  severity: string;
  query: string;
  description: string | null;
  labels: Labels;
  annotations: Record<string, string>;
}

export interface Transition {
  ruleId: string;
  fingerprint: string;
  labels: Labels;
  from: FromState;
  to: ToState;
  value: number | null;
  activeAt: number;
  at: number;
  /** The owner partition of the instance (null: an aggregation); saves are fenced by its owner generation. */
  origin: Origin | null;
  /** Set by the engine; not stored (the history keeps the rule name). */
  rule?: RuleInfo;
}

export interface Timing {
  forMs: number;
  keepFiringForMs: number;
}

export interface Step {
  next: Instance | undefined;
  transition: Transition | null;
  dirty: boolean;
}

export interface Observation {
  ruleId: string;
  fingerprint: string;
  labels: Labels;
  origin: Origin | null;
  /** The expression's value when the condition holds; undefined when it does not (or the series is stale). */
  value: number | undefined;
}

export function step(prev: Instance | undefined, obs: Observation, now: number, timing: Timing): Step {
  const active = obs.value !== undefined;
  if (!prev) {
    if (!active) return { next: undefined, transition: null, dirty: false };
    const firing = timing.forMs === 0;
    const next: Instance = {
      ruleId: obs.ruleId,
      fingerprint: obs.fingerprint,
      labels: obs.labels,
      state: firing ? 'firing' : 'pending',
      value: obs.value!,
      activeAt: now,
      firedAt: firing ? now : null,
      keepFiringSince: null,
      origin: obs.origin,
      savedAt: now,
    };
    return { next, transition: transition(next, 'inactive', next.state, next.value, now), dirty: true };
  }
  if (active) {
    const next: Instance = { ...prev, value: obs.value!, origin: obs.origin, savedAt: now };
    if (prev.state === 'pending' && now - prev.activeAt >= timing.forMs) {
      next.state = 'firing';
      next.firedAt = now;
      return { next, transition: transition(next, 'pending', 'firing', next.value, now), dirty: true };
    }
    if (prev.keepFiringSince !== null) {
      next.keepFiringSince = null;
      return { next, transition: null, dirty: true };
    }
    if (next.value !== prev.value && now - (prev.savedAt ?? -Infinity) >= VALUE_SAVE_MS)
      return { next, transition: null, dirty: true };
    next.savedAt = prev.savedAt;
    return { next, transition: null, dirty: false };
  }
  if (prev.state === 'pending')
    return { next: undefined, transition: transition(prev, 'pending', 'inactive', prev.value, now), dirty: true };
  const since = prev.keepFiringSince ?? now;
  if (now - since < timing.keepFiringForMs) {
    const dirty = prev.keepFiringSince === null;
    return { next: { ...prev, keepFiringSince: since, savedAt: dirty ? now : prev.savedAt }, transition: null, dirty };
  }
  return { next: undefined, transition: transition(prev, 'firing', 'resolved', prev.value, now), dirty: true };
}

/** Ends an instance whose rule was deleted, disabled or changed: firing → resolved, pending → inactive. */
export function retire(prev: Instance, now: number): Transition {
  return transition(prev, prev.state, prev.state === 'firing' ? 'resolved' : 'inactive', prev.value, now);
}

function transition(instance: Instance, from: FromState, to: ToState, value: number | null, at: number): Transition {
  return {
    ruleId: instance.ruleId,
    fingerprint: instance.fingerprint,
    labels: instance.labels,
    from,
    to,
    value,
    activeAt: instance.activeAt,
    at,
    origin: instance.origin,
  };
}
