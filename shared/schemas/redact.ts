/**
 * The seed asks that monitoring never stores secrets: every key at any depth of an event's tags or payload whose
 * lower-cased, punctuation-free form contains a deny-listed fragment ("api_key" matches `X-Api-Key`, `apiKey`,
 * `stripe_api_key`) gets the value "[REDACTED]". Matching by fragment over-redacts a little (`tokens_used`) rather
 * than let `refresh_token` through.
 *
 * The same walk bounds nesting depth: JSON.parse accepts 100k-deep arrays, but JSON.stringify and every recursive
 * reader after it would overflow the stack, so too-deep values are refused before anything else touches them.
 */
export const REDACTED = '[REDACTED]';

const CACHE_LIMIT = 10_000;

export class Redactor {
  private readonly fragments: readonly string[];
  // Telemetry repeats the same few keys millions of times: remember the verdict instead of normalising each time.
  private readonly verdicts = new Map<string, boolean>();

  constructor(fragments: readonly string[], readonly maxDepth: number) {
    this.fragments = [...new Set(fragments.map(normalise).filter((f) => f !== ''))];
  }

  isSensitive(key: string): boolean {
    let verdict = this.verdicts.get(key);
    if (verdict === undefined) {
      const normal = normalise(key);
      verdict = this.fragments.some((f) => normal.includes(f));
      if (this.verdicts.size >= CACHE_LIMIT) this.verdicts.clear();
      this.verdicts.set(key, verdict);
    }
    return verdict;
  }

  /**
   * Redacts `value` in place (it must be freshly parsed and owned by the caller). Returns false when it nests deeper
   * than maxDepth levels (the value itself is level 1); the value may then be partly redacted and must be refused.
   */
  scrub(value: unknown): boolean {
    return this.walk(value, 1);
  }

  private walk(value: unknown, depth: number): boolean {
    if (typeof value !== 'object' || value === null) return true;
    if (depth > this.maxDepth) return false;
    if (Array.isArray(value)) {
      for (const inner of value) if (!this.walk(inner, depth + 1)) return false;
      return true;
    }
    const record = value as Record<string, unknown>;
    for (const key in record) {
      if (this.isSensitive(key)) record[key] = REDACTED;
      else if (!this.walk(record[key], depth + 1)) return false;
    }
    return true;
  }
}

function normalise(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}
