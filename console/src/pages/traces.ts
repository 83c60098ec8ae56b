/** Recent traces (GET /traces): one row per root span, filtered by service, duration, errors and time range. */
import { useState } from 'preact/hooks';
import { api, type Query } from '../api.ts';
import { duration, Empty, html, isoFromLocal, Show, Time, useLoad } from '../ui.ts';

const LIMITS = [20, 50, 100];

interface Filters {
  service: string;
  min_duration: string;
  error: boolean;
  start: string;
  end: string;
  limit: string;
}

export interface TraceSummary {
  trace_id: string;
  root_service: string;
  root_name: string | null;
  start_time: string;
  duration_ms: number | null;
  status: string;
  span_count: number;
  error_count: number;
  services: string[];
}

const toQuery = (f: Filters): Query => ({
  service: f.service.trim(),
  min_duration: f.min_duration.trim(),
  error: f.error ? 'true' : undefined,
  start_time: isoFromLocal(f.start),
  end_time: isoFromLocal(f.end),
  limit: f.limit,
});

const EMPTY: Filters = { service: '', min_duration: '', error: false, start: '', end: '', limit: '20' };

const TraceRow = ({ t }: { t: TraceSummary }) => html`<tr class=${t.error_count > 0 ? 'lvl-error' : ''}>
  <td><${Time} at=${t.start_time} /></td><td>${t.root_service}</td>
  <td><a href=${`#/traces/${t.trace_id}`} title=${`trace ${t.trace_id}`}>${t.root_name || '(unnamed span)'}</a></td>
  <td class="num">${duration(t.duration_ms)}</td><td class="num">${t.span_count}</td>
  <td class=${`num${t.error_count > 0 ? ' errors' : ''}`}>${t.error_count}</td><td>${t.services.join(', ')}</td></tr>`;

export function TracesPage() {
  const [form, setForm] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState(form);
  const loaded = useLoad(() => api('GET', '/traces', { query: toQuery(applied) }), [applied]);
  const set = (k: keyof Filters) => (e: any) =>
    setForm({ ...form, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  return html`<h1>Traces</h1>
    <form class="filters" aria-label="trace filters" onSubmit=${(e: Event) => {
      e.preventDefault();
      setApplied({ ...form });
    }}>
      <label>Service <input name="service" placeholder="root span's service" value=${form.service}
        onInput=${set('service')} /></label>
      <label>Min duration <input name="min_duration" placeholder="250ms, 2s" size="8" value=${form.min_duration}
        onInput=${set('min_duration')} /></label>
      <label><input type="checkbox" name="error" checked=${form.error} onChange=${set('error')} /> With errors</label>
      <label>From <input name="start" type="datetime-local" step="1" value=${form.start}
        onInput=${set('start')} /></label>
      <label>To <input name="end" type="datetime-local" step="1" value=${form.end} onInput=${set('end')} /></label>
      <label>Limit <select name="limit" value=${form.limit} onChange=${set('limit')}>
        ${LIMITS.map((n) => html`<option>${n}</option>`)}</select></label>
      <button type="submit">Apply</button>
    </form>
    <p class="muted">Newest first; without a range, the last hour.</p>
    <${Show} loaded=${loaded}>${(body: { data: TraceSummary[] }) =>
      body.data.length === 0
        ? html`<${Empty}>No traces match these filters.<//>`
        : html`<table class="traces">
      <thead><tr><th>start</th><th>root service</th><th>root span</th><th class="num">duration</th>
        <th class="num">spans</th><th class="num" title="failed spans, exception events and error logs">errors</th>
        <th>services</th></tr></thead>
      <tbody>${body.data.map((t) => html`<${TraceRow} key=${t.trace_id} t=${t} />`)}</tbody></table>`}<//>`;
}
