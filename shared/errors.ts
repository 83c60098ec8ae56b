/**
 * The error registry: every error vigil answers with has a code, an HTTP status and whether retrying can help.
 * docs/errors.md documents each code (a test checks it), and shared/http/error-handler.ts is the one place
 * that turns errors into responses: { "success": false, "error": { "code", "message", "details" } }.
 */

export interface ErrorSpec {
  status: number;
  retriable: boolean;
  title: string;
}

export const ERRORS = {
  VIGIL_ERR_VALIDATION: {
    status: 400,
    retriable: false,
    title: 'The request is invalid; details lists each offending field.',
  },
  VIGIL_ERR_MALFORMED_BODY: { status: 400, retriable: false, title: 'The body is not valid JSON (or NDJSON).' },
  VIGIL_ERR_UNAUTHORIZED: { status: 401, retriable: false, title: 'Missing, expired or invalid bearer token.' },
  VIGIL_ERR_FORBIDDEN: {
    status: 403,
    retriable: false,
    title: 'The token is valid but its role is below what the route requires.',
  },
  VIGIL_ERR_NOT_FOUND: { status: 404, retriable: false, title: 'No such resource (or not visible to you).' },
  VIGIL_ERR_INVALID_TRANSITION: {
    status: 409,
    retriable: false,
    title: 'The incident cannot move to that status from its current one; details.allowed lists where it can.',
  },
  VIGIL_ERR_CONFLICT: {
    status: 409,
    retriable: false,
    title:
      'The change conflicts with the state of another resource (e.g. reopening an incident whose alert series has ' +
      'another unresolved incident).',
  },
  VIGIL_ERR_PAYLOAD_TOO_LARGE: {
    status: 413,
    retriable: false,
    title: 'The request body exceeds the configured limit.',
  },
  VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retriable: false,
    title: 'The Content-Type or Content-Encoding is not supported.',
  },
  VIGIL_ERR_RATE_LIMITED: {
    status: 429,
    retriable: true,
    title: 'Too much in flight; retry after the Retry-After delay.',
  },
  VIGIL_ERR_SUBJECT_RATE_LIMITED: {
    status: 429,
    retriable: true,
    title:
      "Your token's subject made too many expensive requests of this kind in the window; retry after the Retry-After " +
      'delay.',
  },
  VIGIL_ERR_KAFKA_UNAVAILABLE: {
    status: 503,
    retriable: true,
    title: 'Kafka did not acknowledge in time; nothing was accepted, retry after Retry-After.',
  },
  VIGIL_ERR_AT_CAPACITY: {
    status: 503,
    retriable: true,
    title:
      'The gateway is at its in-flight bounds; a remote-write sender is answered 503 (Prometheus drops a batch ' +
      'answered 429), retry after Retry-After.',
  },
  VIGIL_ERR_DATABASE_UNAVAILABLE: {
    status: 503,
    retriable: true,
    title: 'PostgreSQL is unreachable; retry after Retry-After.',
  },
  VIGIL_ERR_NOT_READY: { status: 503, retriable: true, title: 'A dependency of this process is not ready.' },
  VIGIL_ERR_QUERY_TIMEOUT: {
    status: 504,
    retriable: false,
    title: 'The query ran longer than QUERY_STATEMENT_TIMEOUT_MS; narrow it.',
  },
  VIGIL_ERR_INTERNAL: { status: 500, retriable: false, title: 'A bug: please report it with the X-Request-Id.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface FieldError {
  field: string;
  message: string;
  index?: number;
}

export class VigilError extends Error {
  readonly status: number;
  readonly retriable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'VigilError';
    this.status = ERRORS[code].status;
    this.retriable = ERRORS[code].retriable;
  }
}

export function validationError(errors: FieldError[], message?: string): VigilError {
  const summary = message ?? errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new VigilError('VIGIL_ERR_VALIDATION', summary, errors);
}
