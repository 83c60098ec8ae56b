/**
 * Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
 *   # HELP <name> <help, with \ and newline escaped>
 *   # TYPE <name> counter|gauge|histogram|summary
 *   <name>{<label>="<value, with \ " and newline escaped>",...} <float>
 * One HELP and one TYPE per family, all of a family's samples together, no sample name used by two families
 * (a stored metric whose name collides with an earlier family — including another family's _bucket/_sum/_count,
 * or the same name stored with another type — is left out and counted in `skipped`).
 */
export type FamilyType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface Sample {
  name: string;
  labels: [string, string][];
  value: number;
}

export interface Family {
  name: string;
  type: FamilyType;
  help: string;
  samples: Sample[];
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatSample(sample: Sample): string {
  if (sample.labels.length === 0) return `${sample.name} ${formatValue(sample.value)}\n`;
  const labels = sample.labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
  return `${sample.name}{${labels}} ${formatValue(sample.value)}\n`;
}

/** The sample names a family of `type` called `name` writes. */
export function sampleNames(name: string, type: FamilyType): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/** Accumulates families in order, refusing any whose names collide with one already taken. */
export class Exposition {
  private readonly taken = new Set<string>();
  private readonly parts: string[] = [];
  skipped = 0;

  /** Claims the family's names; false (and nothing written) when one is taken. */
  begin(name: string, type: FamilyType, help: string): boolean {
    const names = [name, ...sampleNames(name, type)];
    if (names.some((n) => this.taken.has(n))) {
      this.skipped++;
      return false;
    }
    for (const n of names) this.taken.add(n);
    this.parts.push(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`);
    return true;
  }

  sample(sample: Sample): void {
    this.parts.push(formatSample(sample));
  }

  add(family: Family): void {
    if (!this.begin(family.name, family.type, family.help)) return;
    for (const sample of family.samples) this.sample(sample);
  }

  toString(): string {
    return this.parts.join('');
  }
}

export function sortedLabels(labels: Record<string, string>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
