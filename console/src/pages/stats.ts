/**
 * The system figures for moderators: the six of GET /stats, and what was stored per minute (GET /stats/ingest)
 * charted by event type, with metric samples beside them; both refreshed while the page is open.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, atLeast, type Claims } from '../api.ts';
import { Chart, type Line } from '../chart.ts';
import { Empty, html, Show, useLoad } from '../ui.ts';

const REFRESH_MS = 15_000;
const MINUTE_MS = 60_000;
const FIGURES: [string, string][] = [
  ['total_events', 'events stored'],
  ['total_metrics', 'metric samples stored'],
  ['events_last_hour', 'events, last hour'],
  ['metrics_last_hour', 'samples, last hour'],
  ['active_alerts', 'active alerts'],
  ['open_incidents', 'open incidents'],
];
/** Minutes of each window offered (the API answers at most a day of minutes). */
const WINDOWS: Record<string, number> = { '1 h': 60, '6 h': 360, '24 h': 1440 };

interface IngestMinute {
  minute: string;
  events: number;
  by_event_type: Record<string, number>;
  metric_samples: number;
}

/** One line per event type that has events in the window, and one of metric samples if any. */
function ingestLines(minutes: IngestMinute[]): Line[] {
  const points = (value: (m: IngestMinute) => number) => minutes.map((m) => ({ t: Date.parse(m.minute), v: value(m) }));
  const types = Object.keys(minutes[0]?.by_event_type ?? {});
  const lines = types
    .filter((type) => minutes.some((m) => m.by_event_type[type] > 0))
    .map((type) => ({ label: `${type} events`, points: points((m) => m.by_event_type[type]) }));
  if (minutes.some((m) => m.metric_samples > 0)) {
    lines.push({ label: 'metric samples', points: points((m) => m.metric_samples) });
  }
  return lines;
}

const refused = (error: unknown) => error instanceof ApiError && (error.status === 401 || error.status === 403);

function IngestChart({ tick }: { tick: number }) {
  const [span, setSpan] = useState('1 h');
  const loaded = useLoad(() => {
    const end = Date.now();
    const start = end - (WINDOWS[span] - 1) * MINUTE_MS;
    return api('GET', '/stats/ingest', {
      query: { start_time: new Date(start).toISOString(), end_time: new Date(end).toISOString() },
    });
  }, [span, tick]);
  const lines = useMemo(() => (loaded.data ? ingestLines(loaded.data.data.minutes) : []), [loaded.data]);
  return html`<section aria-label="ingest per minute">
    <h2>Stored per minute
      <select aria-label="window" value=${span}
        onChange=${(e: Event) => setSpan((e.target as HTMLSelectElement).value)}>
        ${Object.keys(WINDOWS).map((w) => html`<option>${w}</option>`)}</select></h2>
    <p class="muted">Events by type and metric samples, counted in the minute of their own timestamp.</p>
    <${Show} loaded=${loaded}>${() =>
      lines.length === 0
        ? html`<${Empty}>Nothing was stored in the last ${span}.<//>`
        : html`<${Chart} lines=${lines} height=${220} stepped=${true} />`}<//>
  </section>`;
}

export function StatsPage({ me }: { me: Claims | null }) {
  const [tick, setTick] = useState(0);
  const stats = useLoad(() => api('GET', '/stats'), [tick]);
  const stop = refused(stats.error);
  useEffect(() => {
    // Refusals do not change by asking again (and each is audited).
    if (stop) return;
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, [stop]);
  return html`<h1>Stats</h1>
    ${
      !atLeast(me, 'moderator') &&
      html`<p
      class="muted">The system-wide figures are for moderators; your role is ${me?.role}.</p>`
    }
    <${Show} loaded=${stats}>${(body: { data: Record<string, number> }) =>
      html`<dl class="figures">${FIGURES.map(
        ([k, label]) => html`<div><dt>${label}</dt><dd>${body.data[k]}</dd></div>`,
      )}</dl>`}<//>
    ${atLeast(me, 'moderator') && !stop && html`<${IngestChart} tick=${tick} />`}`;
}
