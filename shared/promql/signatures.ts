/**
 * The functions the PromQL engine knows, with their argument and result types (the parser checks calls against
 * them). A function of Prometheus that is not listed here is rejected by name with a 400 (docs/promql.md).
 */
import type { ValueType } from './expr.ts';

export interface Signature {
  args: ValueType[];
  /** How many trailing arguments may be left out. */
  optional: number;
  returns: ValueType;
}

const over = (): Signature => ({ args: ['matrix'], optional: 0, returns: 'vector' });
const math = (): Signature => ({ args: ['vector'], optional: 0, returns: 'vector' });

export const SIGNATURES: Readonly<Record<string, Signature>> = {
  rate: over(),
  irate: over(),
  increase: over(),
  delta: over(),
  idelta: over(),
  resets: over(),
  changes: over(),
  avg_over_time: over(),
  min_over_time: over(),
  max_over_time: over(),
  sum_over_time: over(),
  count_over_time: over(),
  last_over_time: over(),
  present_over_time: over(),
  stddev_over_time: over(),
  stdvar_over_time: over(),
  absent_over_time: over(),
  quantile_over_time: { args: ['scalar', 'matrix'], optional: 0, returns: 'vector' },
  abs: math(),
  ceil: math(),
  floor: math(),
  exp: math(),
  ln: math(),
  log2: math(),
  log10: math(),
  sqrt: math(),
  sgn: math(),
  round: { args: ['vector', 'scalar'], optional: 1, returns: 'vector' },
  clamp: { args: ['vector', 'scalar', 'scalar'], optional: 0, returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], optional: 0, returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], optional: 0, returns: 'vector' },
  absent: { args: ['vector'], optional: 0, returns: 'vector' },
  vector: { args: ['scalar'], optional: 0, returns: 'vector' },
  scalar: { args: ['vector'], optional: 0, returns: 'scalar' },
  time: { args: [], optional: 0, returns: 'scalar' },
  sort: math(),
  sort_desc: math(),
  histogram_quantile: { args: ['scalar', 'vector'], optional: 0, returns: 'vector' },
  label_replace: { args: ['vector', 'string', 'string', 'string', 'string'], optional: 0, returns: 'vector' },
};

/** Prometheus functions this engine does not evaluate: named in the 400 so the user knows it is not a typo. */
export const UNSUPPORTED_FUNCTIONS: readonly string[] = [
  'count_values',
  'timestamp',
  'label_join',
  'deriv',
  'predict_linear',
  'holt_winters',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'hour',
  'minute',
  'month',
  'year',
  'histogram_count',
  'histogram_sum',
  'histogram_fraction',
  'sin',
  'cos',
  'tan',
  'asin',
  'acos',
  'atan',
  'sinh',
  'cosh',
  'tanh',
  'asinh',
  'acosh',
  'atanh',
  'rad',
  'deg',
  'pi',
];
