/** The metrics explorer: a name, labels, step and aggregation → one line per series (GET /metrics with step). */
import { useMemo, useState } from 'preact/hooks';
import { api, type Query } from '../api.ts';
import { Chart } from '../chart.ts';
import { Empty, html, Loading, parsePairs, Problem } from '../ui.ts';

const AGGREGATIONS = ['avg', 'min', 'max', 'sum', 'count', 'rate', 'p50', 'p95', 'p99'];
const RANGES: Record<string, number> = { '15 min': 15, '1 h': 60, '6 h': 360, '24 h': 1440 };

const label = (s: any) => `${s.name}${Object.keys(s.labels).length ? JSON.stringify(s.labels) : ''}`;

export function MetricsPage() {
  const [form, setForm] = useState({ name: '', labels: '', step: '1m', agg: 'avg', range: '1 h' });
  const [series, setSeries] = useState<any[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const draw = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const end = new Date();
    const q: Query = {
      name: form.name,
      step: form.step,
      agg: form.agg,
      end_time: end.toISOString(),
      start_time: new Date(end.getTime() - RANGES[form.range] * 60_000).toISOString(),
    };
    for (const [k, v] of Object.entries(parsePairs(form.labels))) q[`label.${k}`] = v;
    try {
      setSeries((await api('GET', '/metrics', { query: q })).data);
    } catch (err) {
      setError(err);
      setSeries(null);
    }
    setBusy(false);
  };
  // From the newest state: two inputs before a re-render must not drop the first.
  const set = (k: string) => (e: any) => {
    const value = e.target.value;
    setForm((old) => ({ ...old, [k]: value }));
  };
  // Built once per answer, so typing in the form does not redraw the chart.
  const lines = useMemo(
    () =>
      (series ?? []).map((s) => ({
        label: label(s),
        points: s.points.map((p: any) => ({ t: Date.parse(p.timestamp), v: p.value })),
      })),
    [series],
  );
  return html`<h1>Metrics</h1>
    <form class="filters" onSubmit=${draw} aria-label="metric query">
      <label>Name <input name="name" required value=${form.name} onInput=${set('name')} /></label>
      <label>Labels <input name="labels" placeholder="host=web-1" value=${form.labels}
        onInput=${set('labels')} /></label>
      <label>Step <input name="step" value=${form.step} onInput=${set('step')} size="5" /></label>
      <label>Aggregation <select name="agg" value=${form.agg} onChange=${set('agg')}>
        ${AGGREGATIONS.map((a) => html`<option>${a}</option>`)}</select></label>
      <label>Range <select name="range" value=${form.range} onChange=${set('range')}>
        ${Object.keys(RANGES).map((r) => html`<option>${r}</option>`)}</select></label>
      <button type="submit" disabled=${busy}>Draw</button>
    </form>
    <${Problem} error=${error} />
    ${
      busy
        ? html`<${Loading} />`
        : series === null
          ? html`<${Empty}>Pick a metric name and draw.<//>`
          : series.length === 0
            ? html`<${Empty}>No samples of ${form.name} in this range.<//>`
            : html`<${Chart} lines=${lines} />`
    }`;
}
