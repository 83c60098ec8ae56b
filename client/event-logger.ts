/**
 * An EventLogger: log events bound to a source and a request id, so that every event of one request can be
 * found together (tags.request_id). Calls return at once and never throw; delivery happens in the background.
 */
import type { Level } from '../shared/schemas/event.ts';
import type { EventInput } from './encode.ts';

export type Tags = Record<string, unknown>;

export interface EventSink {
  event(input: EventInput): void;
}

/** Lines of an error's stack kept in the payload: enough to locate it, not a large payload. */
const STACK_LINES = 12;

export class EventLogger {
  constructor(
    private readonly sink: EventSink,
    readonly source: string,
    readonly requestId: string | null = null,
    private readonly baseTags: Tags = {},
  ) {}

  debug(message: string, tags?: Tags): void {
    this.log('debug', message, tags);
  }

  info(message: string, tags?: Tags): void {
    this.log('info', message, tags);
  }

  warn(message: string, tags?: Tags): void {
    this.log('warn', message, tags);
  }

  /** With an error: tags.error_type is its name, the payload carries its message and the top of its stack. */
  error(message: string, tags?: Tags, error?: unknown): void {
    if (error === undefined) return this.log('error', message, tags);
    const err = error instanceof Error ? error : new Error(String(error));
    const payload = {
      error_message: err.message,
      error_stack: err.stack?.split('\n').slice(0, STACK_LINES).join('\n') ?? null,
    };
    this.log('error', message, { error_type: err.name, ...tags }, payload);
  }

  /** The same source and request id with more fixed tags (or another request id). */
  child(opts: { requestId?: string | null; tags?: Tags }): EventLogger {
    return new EventLogger(this.sink, this.source, opts.requestId === undefined ? this.requestId : opts.requestId, {
      ...this.baseTags,
      ...opts.tags,
    });
  }

  log(level: Level, message: string, tags?: Tags, payload?: Tags): void {
    // The contract's order: request_id first, then fixed tags, then the call's tags.
    const all =
      this.requestId === null
        ? { ...this.baseTags, ...tags }
        : { request_id: this.requestId, ...this.baseTags, ...tags };
    this.sink.event({ event_type: 'log', source: this.source, level, message, tags: all, payload });
  }
}
