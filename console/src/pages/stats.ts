/**
 * The six figures of GET /stats (moderators). The API has no per-minute history of ingest, so the chart is the
 * events and samples of the last hour as this page sees them change, polled while it is open.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, atLeast, type Claims } from '../api.ts';
import { Chart } from '../chart.ts';
import { html, Loading, Problem } from '../ui.ts';

const POLL_MS = 5000;
const FIGURES: [string, string][] = [
  ['total_events', 'events stored'],
  ['total_metrics', 'metric samples stored'],
  ['events_last_hour', 'events, last hour'],
  ['metrics_last_hour', 'samples, last hour'],
  ['active_alerts', 'active alerts'],
  ['open_incidents', 'open incidents'],
];

export function StatsPage({ me }: { me: Claims | null }) {
  const [samples, setSamples] = useState<{ t: number; data: Record<string, number> }[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const poll = () =>
      api('GET', '/stats').then(
        (b) => setSamples((s) => [...s.slice(-359), { t: Date.now(), data: b.data }]),
        (err) => {
          setError(err);
          // Refusals do not change by asking again (and each is audited).
          if (err instanceof ApiError && (err.status === 401 || err.status === 403)) clearInterval(timer);
        },
      );
    const timer = setInterval(poll, POLL_MS);
    poll();
    return () => clearInterval(timer);
  }, []);
  const last = samples[samples.length - 1]?.data;
  const line = (key: string, label: string) => ({ label, points: samples.map((s) => ({ t: s.t, v: s.data[key] })) });
  return html`<h1>Stats</h1>
    ${
      !atLeast(me, 'moderator') &&
      html`<p
      class="muted">The system-wide figures are for moderators; your role is ${me?.role}.</p>`
    }
    <${Problem} error=${error} />
    ${
      !last
        ? error
          ? null
          : html`<${Loading} />`
        : html`<dl
          class="figures">${FIGURES.map(([k, label]) => html`<div><dt>${label}</dt><dd>${last[k]}</dd></div>`)}</dl>
      <h2>Last hour, as seen while this page is open</h2>
      <p class="muted">The API offers no per-minute history of ingest; this polls /stats every ${POLL_MS / 1000} s.</p>
      ${
        samples.length < 2
          ? html`<${Loading} what="Collecting a second reading" />`
          : html`<${Chart}
        lines=${[
          line('events_last_hour', 'events, last hour'),
          line('metrics_last_hour', 'samples, last hour'),
        ]} height=${200} />`
      }`
    }`;
}
