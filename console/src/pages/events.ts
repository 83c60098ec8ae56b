/** The events explorer: GET /events' filters, cursor paging, a live tail, expandable events. */
import { useEffect, useState } from 'preact/hooks';
import { api, type Query } from '../api.ts';
import { Badge, Empty, html, isoFromLocal, Json, Loading, parsePairs, Problem, Time } from '../ui.ts';

const TAIL_INTERVAL_MS = 2000;
/** A W3C / OTLP trace id, the only kind the trace page can open. */
const TRACE_ID = /^[0-9a-f]{32}$/i;
const PAGE = 50;

interface Filters {
  event_type: string;
  source: string;
  level: string;
  start: string;
  end: string;
  tags: string;
  text: string;
}

function toQuery(f: Filters): Query {
  const q: Query = {
    event_type: f.event_type,
    source: f.source,
    level: f.level,
    start_time: isoFromLocal(f.start),
    end_time: isoFromLocal(f.end),
    message_contains: f.text,
  };
  for (const [k, v] of Object.entries(parsePairs(f.tags))) q[`tag.${k}`] = v;
  return q;
}

function EventRow({ e, onTrace }: { e: any; onTrace: (id: string) => void }) {
  const [open, setOpen] = useState(false);
  const incident = e.tags?.incident_id ?? e.payload?.incident_id;
  const trace = e.tags?.trace_id ?? e.payload?.trace_id;
  return html`<tr class=${`lvl-${e.level}`}>
    <td><${Time} at=${e.timestamp} /></td><td>${e.event_type}</td><td>${e.source}</td><td><${Badge}
      value=${e.level ?? 'info'} /></td>
    <td><button type="button" class="link" aria-expanded=${open}
      onClick=${() => setOpen(!open)}>${e.message || '(no message)'}</button>
      ${
        open &&
        html`<div class="expanded">
        <p>created by ${e.created_by ?? '—'} · id <code>${e.id}</code>
          ${incident && html` · <a href=${`#/incidents/${incident}`}>incident</a>`}
          ${
            trace &&
            html` · <button type="button" class="link" onClick=${() => onTrace(String(trace))}
            title="the events of this trace">trace ${trace}</button>${
              TRACE_ID.test(String(trace)) && html` · <a href=${`#/traces/${trace}`}>waterfall of the trace</a>`
            }`
          }</p>
        <h4>tags</h4><${Json} value=${e.tags} /><h4>payload</h4><${Json} value=${e.payload} /></div>`
      }</td></tr>`;
}

const EMPTY: Filters = { event_type: '', source: '', level: '', start: '', end: '', tags: '', text: '' };

/** `trace`: open on the events of that trace (#/events/<trace id>, linked from an incident's analysis). */
export function EventsPage({ trace }: { trace?: string }) {
  const [form, setForm] = useState<Filters>(trace ? { ...EMPTY, tags: `trace_id=${trace}` } : EMPTY);
  const [applied, setApplied] = useState(form);
  const [events, setEvents] = useState<any[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tail, setTail] = useState(false);

  const load = async (more: boolean) => {
    setError(null);
    if (!more) setEvents(null);
    try {
      const body = await api('GET', '/events', {
        query: { ...toQuery(applied), limit: PAGE, cursor: more ? cursor : undefined },
      });
      setEvents((old) => (more ? [...(old ?? []), ...body.data] : body.data));
      setCursor(body.next_cursor ?? null);
    } catch (err) {
      setError(err);
      if (!more) setEvents([]);
    }
  };
  useEffect(() => void load(false), [applied]);

  // Live tail: poll the newest page and put the events not seen yet on top.
  useEffect(() => {
    if (!tail) return;
    const timer = setInterval(async () => {
      try {
        const body = await api('GET', '/events', { query: { ...toQuery(applied), end_time: undefined, limit: PAGE } });
        setEvents((old) => {
          const seen = new Set((old ?? []).map((e) => e.id));
          return [...body.data.filter((e: any) => !seen.has(e.id)), ...(old ?? [])];
        });
      } catch (err) {
        setError(err);
      }
    }, TAIL_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [tail, applied]);

  // A trace's events: those tagged with its id, whatever their source.
  const showTrace = (id: string) => {
    const filters = { ...EMPTY, tags: `trace_id=${id}` };
    setForm(filters);
    setApplied(filters);
  };
  // From the newest state: two inputs before a re-render must not drop the first.
  const set = (k: keyof Filters) => (e: any) => {
    const value = e.target.value;
    setForm((old) => ({ ...old, [k]: value }));
  };
  return html`<h1>Events</h1>
    <form class="filters" aria-label="event filters" onSubmit=${(e: Event) => {
      e.preventDefault();
      setApplied({ ...form });
    }}>
      <label>Type <select name="event_type" value=${form.event_type} onChange=${set('event_type')}><option
        value="">any</option>
        ${['log', 'metric', 'trace', 'alert'].map((t) => html`<option>${t}</option>`)}</select></label>
      <label>Source <input name="source" value=${form.source} onInput=${set('source')} /></label>
      <label>Level <select name="level" value=${form.level} onChange=${set('level')}><option value="">any</option>
        ${['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((t) => html`<option>${t}</option>`)}</select></label>
      <label>From <input name="start" type="datetime-local" step="1" value=${form.start}
        onInput=${set('start')} /></label>
      <label>To <input name="end" type="datetime-local" step="1" value=${form.end} onInput=${set('end')} /></label>
      <label>Tags <input name="tags" placeholder="service=api, region=eu" value=${form.tags}
        onInput=${set('tags')} /></label>
      <label>Text <input name="text" placeholder="needs From" value=${form.text} onInput=${set('text')} /></label>
      <button type="submit">Apply</button>
      <label><input type="checkbox" name="tail" checked=${tail}
        onChange=${(e: any) => setTail(e.target.checked)} /> Live tail</label>
    </form>
    <${Problem} error=${error} />
    ${
      events === null
        ? html`<${Loading} />`
        : events.length === 0
          ? html`<${Empty}>No events match these filters.<//>`
          : html`<table class="events">
      <thead><tr><th>time</th><th>type</th><th>source</th><th>level</th><th>message</th></tr></thead>
      <tbody>${events.map((e) => html`<${EventRow} key=${e.id} e=${e} onTrace=${showTrace} />`)}</tbody></table>
      ${
        cursor
          ? html`<button type="button" onClick=${() => load(true)}>Older events</button>`
          : html`<p
        class="muted">End of the list.</p>`
      }`
    }`;
}
