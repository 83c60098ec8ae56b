/** One incident: lifecycle moves, editable fields, the reconstructed timeline and the root-cause analysis. */
import { useState } from 'preact/hooks';
import { api, atLeast, type Claims } from '../api.ts';
import { Badge, Empty, html, Json, Problem, Show, Time, useLoad } from '../ui.ts';
import { SEVERITIES, type Incident } from './incidents.ts';

const SHOWN_REQUEST_IDS = 8;

/** A trace id as a link to its waterfall, then a way to all the events carrying it. */
const TraceLink = ({ id }: { id: string }) => html`<a href=${`#/traces/${id}`} title="this trace's spans and logs"><code
  >${id}</code></a> <a href=${`#/events/${id}`} class="muted" title="the events carrying this trace id">(events)</a>`;

function Fields({ incident, canEdit, onSaved }: { incident: Incident; canEdit: boolean; onSaved: () => void }) {
  const [draft, setDraft] = useState({
    title: incident.title,
    severity: incident.severity,
    assigned_to: incident.assigned_to ?? '',
    description: incident.description ?? '',
    root_cause: incident.root_cause ?? '',
  });
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  // From the newest state: two inputs before a re-render must not drop the first.
  const set = (k: string) => (e: any) => {
    const value = e.target.value;
    setDraft((old) => ({ ...old, [k]: value }));
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(draft)) if (v !== ((incident as any)[k] ?? '')) body[k] = v === '' ? null : v;
    try {
      await api('PUT', `/incidents/${incident.id}`, { body });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return html`<form class="fields" onSubmit=${save} aria-label="incident fields">
    <label>Title <input value=${draft.title} disabled=${!canEdit} onInput=${set('title')} /></label>
    <label>Severity <select value=${draft.severity} disabled=${!canEdit} onChange=${set('severity')}>
      ${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
    <label>Assigned to <input value=${draft.assigned_to} disabled=${!canEdit} onInput=${set('assigned_to')} /></label>
    <label>Description <textarea value=${draft.description} disabled=${!canEdit}
      onInput=${set('description')} /></label>
    <label>Root cause <textarea value=${draft.root_cause} disabled=${!canEdit} onInput=${set('root_cause')} /></label>
    ${canEdit && html`<button type="submit">Save fields</button>`} ${
      saved &&
      !error &&
      html`<span
      class="muted">saved</span>`
    }
    <${Problem} error=${error} />
  </form>`;
}

function Timeline({ id, version }: { id: string; version: number }) {
  const loaded = useLoad(() => api('GET', `/incidents/${id}/timeline`, { query: { limit: 500 } }), [id, version]);
  return html`<section aria-label="timeline"><h2>Timeline</h2><${Show} loaded=${loaded}>${(body: any) =>
    body.data.entries.length === 0
      ? html`<${Empty}>Nothing happened in the incident's window yet.<//>`
      : html`<table>
      <thead><tr><th>time</th><th>what</th><th>source</th><th>message</th><th>who</th></tr></thead>
      <tbody>${body.data.entries.map(
        (e: any) => html`<tr class=${`tl-${e.kind}`}>
        <td><${Time} at=${e.timestamp} /></td>
        <td>${
          e.kind === 'alert'
            ? html`alert ${e.rule_name ?? ''} → <${Badge} value=${e.to ?? ''} />`
            : e.kind === 'change'
              ? `change: ${e.type ?? ''}`
              : html`event <${Badge} value=${e.level ?? 'info'} />`
        }</td>
        <td>${e.source}</td><td>${e.message ?? ''}</td><td>${e.created_by ?? '—'}</td></tr>`,
      )}
      </tbody></table>${
        body.data.has_more &&
        html`<p
        class="muted">Only the first 500 entries are shown.</p>`
      }`}<//></section>`;
}

function Analysis({ id }: { id: string }) {
  const [recompute, setRecompute] = useState(0);
  const loaded = useLoad(
    () => api('GET', `/incidents/${id}/analysis`, { query: { recompute: recompute > 0 ? 'true' : undefined } }),
    [id, recompute],
  );
  return html`<section aria-label="analysis"><h2>Analysis
      <button type="button"
        onClick=${() => setRecompute((n) => n + 1)} disabled=${loaded.loading}>Recompute</button></h2>
    <${Show} loaded=${loaded}>${(body: any) => {
      const a = body.data;
      return html`<p class="muted">Computed <${Time}
        at=${a.computed_at} /> (${a.trigger === 'open' ? 'when the incident opened' : 'on request'}).</p>
      <h3>Suspects</h3>
      ${
        a.suspects.length === 0
          ? html`<${Empty}>No suspects: nothing stood out before the start.<//>`
          : html`<ol class="suspects">
        ${a.suspects.map(
          (s: any) => html`<li>
          <b>${s.name}</b> <span class="muted">${s.kind} · score ${s.score}</span>
          <p>${s.evidence?.explanation ?? ''}</p>
          ${
            s.evidence?.trace_ids?.length > 0 &&
            html`<p>Traces of its errors: ${s.evidence.trace_ids.map(
              (t: string) => html`<${TraceLink} id=${t} /> `,
            )}</p>`
          }
          <details><summary>Evidence</summary><${Json} value=${s.evidence} /></details></li>`,
        )}</ol>`
      }
      <h3>First errors</h3>
      ${
        a.first_errors.length === 0
          ? html`<${Empty}>No error events before the start.<//>`
          : html`<ul aria-label="first errors">
        ${a.first_errors.map(
          (e: any) => html`<li><${Time}
          at=${e.timestamp} /> <b>${e.source}</b> ${e.message ?? ''}${
            e.trace_id &&
            html` · trace <${TraceLink}
          id=${e.trace_id} />`
          }</li>`,
        )}</ul>`
      }
      <h3>Request ids crossing sources</h3>
      ${
        a.request_ids.length === 0
          ? html`<${Empty}>No request id was seen in two sources.<//>`
          : html`<ul aria-label="request ids">
        ${a.request_ids.slice(0, SHOWN_REQUEST_IDS).map(
          (r: any) => html`<li><code>${r.request_id}</code>: in ${r.sources.join(', ')},
          first in ${r.first_source}${', '}${r.errors} errors of ${r.events} events</li>`,
        )}</ul>
        ${
          a.request_ids.length > SHOWN_REQUEST_IDS &&
          html`<p
          class="muted">and ${a.request_ids.length - SHOWN_REQUEST_IDS} more.</p>`
        }`
      }`;
    }}<//></section>`;
}

export function IncidentPage({ id, me }: { id: string; me: Claims | null }) {
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const loaded = useLoad(() => api('GET', `/incidents/${id}`), [id, version]);
  const move = async (status: string) => {
    setError(null);
    try {
      await api('PUT', `/incidents/${id}`, { body: { status } });
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  };
  return html`<p><a href="#/incidents">← Incidents</a></p><${Show} loaded=${loaded}>${(body: { data: Incident }) => {
    const i = body.data;
    const canEdit = atLeast(me, 'moderator') || i.created_by === me?.sub || i.assigned_to === me?.sub;
    return html`<h1>${i.title}</h1>
      <p><${Badge} value=${i.status} /> <${Badge} value=${i.severity} /> started <${Time} at=${i.started_at} />,
        opened by ${i.created_by}${i.sources.length ? `, sources ${i.sources.join(', ')}` : ''}</p>
      ${
        canEdit
          ? html`<div class="row" role="group" aria-label="lifecycle">Move to:
        ${i.allowed_transitions.map((s) => html`<button type="button" onClick=${() => move(s)}>${s}</button>`)}</div>`
          : html`<p class="muted">Only its creator, its assignee or a moderator can change this incident.</p>`
      }
      <${Problem} error=${error} />
      <${Fields} key=${`${i.id}-${version}`} incident=${i} canEdit=${canEdit}
        onSaved=${() => setVersion((v) => v + 1)} />
      <${Timeline} id=${i.id} version=${version} />
      <${Analysis} id=${i.id} />`;
  }}<//>`;
}
