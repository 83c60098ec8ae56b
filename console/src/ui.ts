/** Shared pieces: times (local, UTC on hover), loading / empty / error states, a data-loading hook. */
import { html } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

export { html };

const FORMAT = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** A time in the browser's zone, with the UTC instant in the title. */
export function Time({ at }: { at: string | number | null | undefined }) {
  if (at === null || at === undefined) return html`<span class="muted">—</span>`;
  const d = new Date(at);
  return html`<time datetime=${d.toISOString()}
    title=${`${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`}>${FORMAT.format(d)}</time>`;
}

export const Loading = ({ what = 'Loading' }: { what?: string }) => html`<p class="loading" role="status">${what}…</p>`;
export const Empty = ({ children }: { children: unknown }) => html`<p class="empty">${children}</p>`;

/** Says what an API error means for the person looking at it. */
export function explain(error: unknown): string {
  if (!(error instanceof ApiError)) return String((error as Error)?.message ?? error);
  switch (error.status) {
    case 0:
      return error.message;
    case 401:
      return `Your token was refused (${error.message}). Sign out and paste a valid token.`;
    case 403:
      return `Not allowed for your role: ${error.message}.`;
    case 404:
      return `Not found, or not yours to see: ${error.message}`;
    case 409:
      return `That move is not allowed now: ${error.message}`;
    case 429:
      return `Too many requests; wait a little and try again (${error.message}).`;
    default: {
      const details = Array.isArray(error.details)
        ? (error.details as { field?: string; message?: string }[])
            .map((d) => `${d.field ?? ''}: ${d.message ?? ''}`)
            .join('; ')
        : '';
      return `${error.message}${details ? ` — ${details}` : ''} (${error.code}, HTTP ${error.status})`;
    }
  }
}

export function Problem({ error }: { error: unknown }) {
  if (!error) return null;
  return html`<div class="error" role="alert">${explain(error)}</div>`;
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; the newest answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => void (live = false);
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** Renders the loading / error state of `loaded`, else `body(data)`. */
export function Show<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => unknown }) {
  if (loaded.error) return html`<${Problem} error=${loaded.error} />`;
  if (loaded.data === null) return html`<${Loading} />`;
  return children(loaded.data) as any;
}

export const Json = ({ value }: { value: unknown }) => html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;

export const Badge = ({ value }: { value: string }) => html`<span class=${`badge b-${value}`}>${value}</span>`;

/** `k=v, k2=v2` → {k: v, k2: v2}. */
export function parsePairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export const isoFromLocal = (value: string) => (value ? new Date(value).toISOString() : undefined);

const MS_PER_S = 1000;
/** A duration for people: `0.42 ms`, `18 ms`, `1.25 s`; a dash when unknown. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms >= MS_PER_S) return `${(ms / MS_PER_S).toFixed(2)} s`;
  return `${ms < 10 ? Number(ms.toFixed(2)) : Math.round(ms)} ms`;
}
