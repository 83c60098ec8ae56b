/**
 * What an OTLP request turns into: vigil items (the same plain objects a JSON client posts to /events or /metrics),
 * each belonging to the OTLP unit it came from (a log record, a span, a data point), and the units refused while
 * mapping. A unit is accepted or rejected whole: the partial success counts units, as OTLP counts them.
 * Work is bounded as it is done: at most `maxUnits` units and `maxItems` items (a histogram point is several
 * samples), else 413 before anything is validated or published.
 */
import { VigilError } from '../../../shared/errors.ts';

/** Rejection messages quoted in a partial success: the count stays exact, the answer small. */
export const MAX_REPORTED_REJECTIONS = 10;

export interface ConversionLimits {
  maxUnits: number;
  maxItems: number;
  /** INGEST_MAX_DEPTH: how deep attribute values are walked. */
  maxDepth: number;
}

export class Conversion {
  readonly items: Record<string, unknown>[] = [];
  /** unitOf[i]: the unit of items[i]. */
  readonly unitOf: number[] = [];
  /** The path of each unit (resource, scope, index within the scope), for messages. */
  private readonly paths: number[] = [];
  private readonly rejectedUnits = new Set<number>();
  readonly messages: string[] = [];
  units = 0;

  constructor(
    readonly limits: ConversionLimits,
    /** Names the levels of a unit's path, e.g. ['resource_logs', 'scope_logs', 'log_records']. */
    private readonly levels: [string, string, string],
    /** Names a unit in the 413 message: 'log records', 'spans', 'data points'. */
    private readonly noun: string,
  ) {}

  /** Starts the next unit; its index. */
  unit(resource: number, scope: number, index: number): number {
    if (this.units >= this.limits.maxUnits) {
      throw new VigilError(
        'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        `the request has more than ${this.limits.maxUnits} ${this.noun} (INGEST_MAX_BATCH_ITEMS); ` +
          'export smaller batches',
      );
    }
    this.paths.push(resource, scope, index);
    return this.units++;
  }

  add(unit: number, item: Record<string, unknown>): void {
    if (this.items.length >= this.limits.maxItems) {
      throw new VigilError(
        'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        `the request maps to more than ${this.limits.maxItems} vigil items; export smaller batches`,
      );
    }
    this.items.push(item);
    this.unitOf.push(unit);
  }

  reject(unit: number, message: string): void {
    if (this.rejectedUnits.has(unit)) return;
    this.rejectedUnits.add(unit);
    if (this.messages.length < MAX_REPORTED_REJECTIONS) this.messages.push(`${this.path(unit)}: ${message}`);
  }

  isRejected(unit: number): boolean {
    return this.rejectedUnits.has(unit);
  }

  get rejected(): number {
    return this.rejectedUnits.size;
  }

  /** The partial success's error_message: how many were rejected and the first reasons. */
  summary(): string {
    if (this.rejected === 0) return '';
    const more = this.rejected > this.messages.length ? `; and ${this.rejected - this.messages.length} more` : '';
    return `${this.rejected} of ${this.units} ${this.noun} rejected: ${this.messages.join('; ')}${more}`;
  }

  private path(unit: number): string {
    const [a, b, c] = this.levels;
    const at = unit * this.levels.length;
    return `${a}[${this.paths[at]}].${b}[${this.paths[at + 1]}].${c}[${this.paths[at + 2]}]`;
  }
}
