/**
 * /readyz is public (load balancers and orchestrators probe it without a token), so it names the failing check and
 * a fixed reason, never what an error says: host names, ports, versions and server messages go to the log.
 * A check that wants to say why it fails throws NotReadyError with a sentence meant for the public; anything else
 * it throws shows as FAILED_CHECK. Each check's failure is logged when it changes (not on every probe), and once
 * when the check passes again.
 */
import type { Logger } from 'pino';
import { withTimeout } from '../wait.ts';

export type ReadinessCheck = () => Promise<void>;

/** A readiness failure whose message is safe to show on the public /readyz (no hosts, ports, versions, errors). */
export class NotReadyError extends Error {
  constructor(publicReason: string, options?: { cause?: unknown }) {
    super(publicReason, options);
    this.name = 'NotReadyError';
  }
}

export const CHECK_OK = 'ok';
export const FAILED_CHECK = 'failing (details in the log)';
export const CHECK_TIMEOUT_MS = 2000;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, string>;
}

export function createReadiness(
  checks: Record<string, ReadinessCheck>,
  logger: Logger,
): (only?: Set<string> | null) => Promise<ReadinessReport> {
  /** The last logged failure of each check, so a failing check logs once, not once per probe. */
  const lastLogged = new Map<string, string>();

  function logOutcome(name: string, error: unknown): void {
    const detail = error === undefined ? undefined : describe(error);
    if (detail === lastLogged.get(name)) return;
    if (detail === undefined) {
      lastLogged.delete(name);
      logger.info({ check: name }, 'readiness check passes again');
    } else {
      lastLogged.set(name, detail);
      logger.warn({ check: name, err: error }, `readiness check ${name} fails: ${detail}`);
    }
  }

  return async (only = null) => {
    const results = await Promise.all(
      Object.entries(checks)
        .filter(([name]) => only === null || only.has(name))
        .map(async ([name, check]) => {
          try {
            await withTimeout(check(), CHECK_TIMEOUT_MS, () => {
              throw new NotReadyError(`no answer within ${CHECK_TIMEOUT_MS} ms`);
            });
            logOutcome(name, undefined);
            return [name, CHECK_OK] as const;
          } catch (error) {
            logOutcome(name, error);
            return [name, error instanceof NotReadyError ? error.message : FAILED_CHECK] as const;
          }
        }),
    );
    return { ready: results.every(([, status]) => status === CHECK_OK), checks: Object.fromEntries(results) };
  };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
