/** The incidents board: a column per status, cards by severity; open a new incident. */
import { useState } from 'preact/hooks';
import { api, type Claims } from '../api.ts';
import { Badge, Empty, html, Problem, Show, Time, useLoad } from '../ui.ts';

export const STATUSES = ['open', 'investigating', 'identified', 'monitoring', 'resolved', 'closed'];
export const SEVERITIES = ['critical', 'high', 'medium', 'low'];

export interface Incident {
  id: string;
  title: string;
  description: string | null;
  status: string;
  /** The statuses the API accepts as the next one (its lifecycle, so the console keeps no copy of it). */
  allowed_transitions: string[];
  severity: string;
  assigned_to: string | null;
  created_by: string;
  root_cause: string | null;
  started_at: string;
  sources: string[];
  tags: Record<string, string>;
}

function NewIncident({ onCreated }: { onCreated: (id: string) => void }) {
  const [title, setTitle] = useState('');
  const [severity, setSeverity] = useState('medium');
  const [sources, setSources] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const list = sources
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const body = await api('POST', '/incidents', {
        body: { title, severity, ...(list.length ? { sources: list } : {}) },
      });
      onCreated(body.data.id);
    } catch (err) {
      setError(err);
    }
  };
  return html`<form class="row" onSubmit=${submit} aria-label="open an incident">
    <input aria-label="title" placeholder="Title" required value=${title}
      onInput=${(e: any) => setTitle(e.target.value)} />
    <select aria-label="severity" value=${severity} onChange=${(e: any) => setSeverity(e.target.value)}>
      ${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}
    </select>
    <input aria-label="sources" placeholder="sources (comma list)" value=${sources}
      onInput=${(e: any) => setSources(e.target.value)} />
    <button type="submit">Open incident</button>
    <${Problem} error=${error} />
  </form>`;
}

export function IncidentsPage({ me }: { me: Claims | null }) {
  const [severity, setSeverity] = useState('');
  const loaded = useLoad(() => api('GET', '/incidents', { query: { limit: 200, severity } }), [severity]);
  return html`<h1>Incidents</h1>
    <p class="muted">${me?.role === 'user' ? 'The incidents you opened or are assigned.' : 'Every incident.'}</p>
    <${NewIncident} onCreated=${(id: string) => (location.hash = `#/incidents/${id}`)} />
    <label>Severity <select value=${severity} onChange=${(e: any) => setSeverity(e.target.value)}>
      <option value="">all</option>${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}
    </select></label>
    <${Show} loaded=${loaded}>${(body: { data: Incident[] }) =>
      body.data.length === 0
        ? html`<${Empty}>No incidents${severity ? ` of severity ${severity}` : ''}.<//>`
        : html`<div class="board">${STATUSES.map((status) => {
            const cards = body.data
              .filter((i) => i.status === status)
              .sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
            return html`<section class="column" aria-label=${status}>
          <h2>${status} <span class="muted">${cards.length}</span></h2>
          ${
            cards.length === 0
              ? html`<p class="empty">none</p>`
              : cards.map(
                  (i) => html`<a class="card" href=${`#/incidents/${i.id}`}>
            <${Badge} value=${i.severity} /> ${i.title}<br /><small><${Time} at=${i.started_at} /></small></a>`,
                )
          }
        </section>`;
          })}</div>`}<//>`;
}
