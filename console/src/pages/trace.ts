/**
 * One trace (GET /traces/{trace_id}): its spans as an indented tree, each with a bar placed by its start offset and
 * sized by its duration relative to the whole trace; a span opens (click, Enter or Space) on its attributes and span
 * events. Below, the logs carrying the trace id, and a way to all its events in the explorer.
 */
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api.ts';
import { Badge, duration, Empty, html, Json, Show, Time, useLoad } from '../ui.ts';

/** The narrowest bar drawn, in percent of the trace, so an instant span stays visible. */
const MIN_BAR_PERCENT = 0.4;
const PERCENT = 100;

interface Span {
  span_id: string;
  name: string | null;
  service: string;
  kind: string | null;
  start_time: string;
  duration_ms: number | null;
  status: { code: string; message: string } | null;
  attributes: Record<string, unknown>;
  events: { name: string | null; timestamp: string; attributes: Record<string, unknown> }[];
  children: Span[];
}

interface Trace {
  trace_id: string;
  start_time: string | null;
  duration_ms: number | null;
  span_count: number;
  error_count: number;
  services: string[];
  spans: Span[];
  logs: any[];
  truncated: boolean;
}

/** The tree in display order (depth first, children in start order as the API sends them), with depths. */
function flatten(roots: Span[]): { span: Span; depth: number }[] {
  const out: { span: Span; depth: number }[] = [];
  const stack = roots.map((span) => ({ span, depth: 0 })).reverse();
  while (stack.length > 0) {
    const item = stack.pop()!;
    out.push(item);
    for (let i = item.span.children.length - 1; i >= 0; i--)
      stack.push({ span: item.span.children[i], depth: item.depth + 1 });
  }
  return out;
}

interface Scale {
  startMs: number;
  totalMs: number;
}

function barStyle(span: Span, scale: Scale): string {
  const offset = ((Date.parse(span.start_time) - scale.startMs) / scale.totalMs) * PERCENT;
  const left = Math.min(Math.max(offset, 0), PERCENT - MIN_BAR_PERCENT);
  const width = Math.max(((span.duration_ms ?? 0) / scale.totalMs) * PERCENT, MIN_BAR_PERCENT);
  return `left:${left.toFixed(3)}%;width:${Math.min(width, PERCENT - left).toFixed(3)}%`;
}

function SpanDetails({ span }: { span: Span }) {
  return html`<div class="span-details">
    <p>span <code>${span.span_id}</code> · started <${Time} at=${span.start_time} />
      ${span.status?.message && html` · <span class="errors">${span.status.message}</span>`}</p>
    <h4>attributes</h4>
    ${
      Object.keys(span.attributes).length === 0
        ? html`<p class="muted">none</p>`
        : html`<${Json}
      value=${span.attributes} />`
    }
    <h4>span events</h4>
    ${
      span.events.length === 0
        ? html`<p class="muted">none</p>`
        : html`<ul class="span-events">${span.events.map(
            (e) => html`<li><${Time} at=${e.timestamp} /> <b>${e.name ?? '(unnamed)'}</b>
              ${Object.keys(e.attributes).length > 0 && html`<${Json} value=${e.attributes} />`}</li>`,
          )}</ul>`
    }</div>`;
}

function SpanRow({ span, depth, scale }: { span: Span; depth: number; scale: Scale }) {
  const [open, setOpen] = useState(false);
  const failed = span.status?.code === 'error';
  return html`<li class=${`span${failed ? ' span-error' : ''}`} data-depth=${depth}>
    <button type="button" class="span-row" aria-expanded=${open} onClick=${() => setOpen(!open)}
      title=${failed ? `error: ${span.status?.message || 'status error'}` : undefined}>
      <span class="span-label" style=${`padding-left:${depth * 1.1}rem`}>
        <span class="span-name">${span.name || '(unnamed span)'}</span>
        <span class="muted"> ${span.service} · ${span.kind ?? 'unspecified'}</span>
        ${failed && html` <${Badge} value="error" />`}</span>
      <span class="span-track"><span class="span-bar" style=${barStyle(span, scale)}></span></span>
      <span class="span-duration">${duration(span.duration_ms)}</span>
    </button>
    ${open && html`<${SpanDetails} span=${span} />`}</li>`;
}

function Waterfall({ trace }: { trace: Trace }) {
  if (trace.spans.length === 0)
    return html`<${Empty}>No span of this trace is stored, only what carries its id below.<//>`;
  const scale = { startMs: Date.parse(trace.start_time ?? ''), totalMs: Math.max(trace.duration_ms ?? 0, 1) };
  return html`<div class="waterfall-head" aria-hidden="true"><span>span</span><span>0</span>
      <span>${duration(trace.duration_ms)}</span></div>
    <ul class="waterfall" aria-label="spans">${flatten(trace.spans).map(
      ({ span, depth }) => html`<${SpanRow} key=${span.span_id} span=${span} depth=${depth} scale=${scale} />`,
    )}</ul>`;
}

function Logs({ trace }: { trace: Trace }) {
  const all = html`<a href=${`#/events/${trace.trace_id}`}>all events of this trace in the explorer</a>`;
  if (trace.logs.length === 0) return html`<${Empty}>No log carries this trace id.<//><p>${all}</p>`;
  return html`<table class="events" aria-label="logs of the trace">
    <thead><tr><th>time</th><th>source</th><th>level</th><th>message</th></tr></thead>
    <tbody>${trace.logs.map(
      (e) => html`<tr class=${`lvl-${e.level}`} key=${e.id}><td><${Time} at=${e.timestamp} /></td>
        <td>${e.source}</td><td><${Badge} value=${e.level ?? 'info'} /></td><td>${e.message ?? ''}</td></tr>`,
    )}</tbody></table><p>${all}</p>`;
}

/** A trace nobody sent (or not yet stored, or past retention) is a state to explain, not an error. */
function NotFound({ id }: { id: string }) {
  return html`<${Empty}>No span or log carries trace <code>${id}</code>: it was not sent to vigil, is still on its way
    to storage (a few seconds), or is older than the retention. <a href=${`#/events/${id}`}>Search the events</a><//>`;
}

export function TracePage({ id }: { id: string }) {
  const loaded = useLoad(() => api('GET', `/traces/${encodeURIComponent(id)}`), [id]);
  const missing = loaded.error instanceof ApiError && loaded.error.status === 404;
  return html`<p><a href="#/traces">← Traces</a></p><h1>Trace <code>${id}</code></h1>
    ${
      missing
        ? html`<${NotFound} id=${id} />`
        : html`<${Show} loaded=${loaded}>${(body: { data: Trace }) => {
            const t = body.data;
            const failed = `${t.error_count} failed ${t.error_count === 1 ? 'span' : 'spans'}`;
            const spans = `${t.span_count} spans, `;
            const services = `, services ${t.services.join(', ') || '—'}.`;
            return html`<p>Started <${Time} at=${t.start_time} />, lasted ${duration(t.duration_ms)}: ${spans}<span
                class=${t.error_count > 0 ? 'errors' : ''}>${failed}</span>${services}</p>
              ${t.truncated && html`<p class="muted">Only the first 10,000 rows of this trace are shown.</p>`}
              <section aria-label="waterfall"><h2>Spans</h2><${Waterfall} trace=${t} /></section>
              <section aria-label="logs"><h2>Logs</h2><${Logs} trace=${t} /></section>`;
          }}<//>`
    }`;
}
