/** Alert rules with their state and active instances, history; moderators create, edit, delete and backtest. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, atLeast, type Claims } from '../api.ts';
import { Chart, type Line } from '../chart.ts';
import { Badge, Empty, html, Json, Problem, Show, Time, useLoad } from '../ui.ts';

interface Rule {
  id: string;
  name: string;
  description: string | null;
  query: string;
  threshold_value: number | null;
  for: string;
  severity: string;
  state: string;
  active_instances: { labels: Record<string, string>; state: string; value: number; active_at: string }[];
}

const VALIDATE_DELAY_MS = 350;
const num = (v: number) => String(Number(v.toPrecision(6)));
const BLANK = { name: '', query: '', threshold_value: '', for: '0s', severity: 'medium', description: '' };

function body(draft: typeof BLANK) {
  return {
    name: draft.name,
    query: draft.query,
    for: draft.for || '0s',
    severity: draft.severity,
    description: draft.description || null,
    threshold_value: draft.threshold_value === '' ? null : Number(draft.threshold_value),
  };
}

/** The query's parse error with a caret under the position. */
function QueryCheck({ error }: { query: string; error: unknown }) {
  if (error === 'ok') return html`<p class="ok" role="status">Query parses.</p>`;
  if (!(error instanceof ApiError)) return error ? html`<${Problem} error=${error} />` : null;
  const details = (error.details ?? []) as { field: string; message: string; excerpt?: string }[];
  const q = details.find((d) => d.field === 'query');
  if (!q)
    return html`<p class="muted"
      role="status">${details.map((d) => `${d.field}: ${d.message}`).join('; ') || error.message}</p>`;
  return html`<div class="error" role="alert">Query: ${q.message}${
    q.excerpt &&
    html`<pre
    class="caret">${q.excerpt}</pre>`
  }</div>`;
}

function Backtest({ draft }: { draft: typeof BLANK }) {
  const [result, setResult] = useState<any>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const end = new Date();
      const start = new Date(end.getTime() - 3600_000);
      setResult(
        (
          await api('POST', '/alerts/preview', {
            body: { ...body(draft), start_time: start.toISOString(), end_time: end.toISOString() },
          })
        ).data,
      );
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };
  const lines = useMemo((): Line[] => {
    if (!result) return [];
    let firing = 0;
    const points = result.transitions.map((t: any) => {
      firing += (t.to === 'firing' ? 1 : 0) - (t.from === 'firing' ? 1 : 0);
      return { t: Date.parse(t.at), v: firing };
    });
    const values = result.transitions.map((t: any) => ({ t: Date.parse(t.at), v: t.value }));
    return [
      { label: 'firing alerts', points },
      { label: 'value at transition', points: values },
    ];
  }, [result]);
  return html`<div><button type="button" onClick=${run} disabled=${busy}>Backtest the last hour</button>
    <${Problem} error=${error} />
    ${
      result &&
      (result.transitions.length === 0
        ? html`<${Empty}>It would not have fired in the last hour (${result.evaluations} evaluations, step ${
            result.step
          }).<//>`
        : html`<p>${result.alerts.length} alert(s), ${result.transitions.length} transitions.</p><${Chart}
          lines=${lines} height=${180} />`)
    }</div>`;
}

function RuleForm({ rule, onSaved }: { rule: Rule | null; onSaved: () => void }) {
  const [draft, setDraft] = useState(
    rule
      ? {
          name: rule.name,
          query: rule.query,
          threshold_value: rule.threshold_value === null ? '' : String(rule.threshold_value),
          for: rule.for,
          severity: rule.severity,
          description: rule.description ?? '',
        }
      : BLANK,
  );
  const [check, setCheck] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!draft.query) return setCheck(null);
    const timer = setTimeout(() => {
      api('POST', '/alerts/validate', { body: { ...body(draft), name: draft.name || 'unnamed' } }).then(
        () => setCheck('ok'),
        setCheck,
      );
    }, VALIDATE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [draft]);
  // From the newest state: two inputs before a re-render must not drop the first.
  const set = (k: string) => (e: any) => {
    const value = e.target.value;
    setDraft((old) => ({ ...old, [k]: value }));
  };
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      await api(rule ? 'PUT' : 'POST', rule ? `/alerts/${rule.id}` : '/alerts', { body: body(draft) });
      if (!rule) setDraft(BLANK);
      setError(null);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return html`<form class="fields" onSubmit=${save} aria-label=${rule ? 'edit rule' : 'new rule'}>
    <label>Name <input name="name" required value=${draft.name} onInput=${set('name')} /></label>
    <label>Query <textarea name="query" rows="2" required value=${draft.query} onInput=${set('query')}
      spellcheck=${false}
      placeholder='cpu_usage{host="web-1"} > 80' /></label>
    <${QueryCheck} query=${draft.query} error=${check} />
    <label>Threshold <input name="threshold" type="number" step="any" value=${draft.threshold_value}
      onInput=${set('threshold_value')} /></label>
    <label>For <input name="for" value=${draft.for} onInput=${set('for')} /></label>
    <label>Severity <select name="severity" value=${draft.severity} onChange=${set('severity')}>
      ${['low', 'medium', 'high', 'critical'].map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
    <label>Description <input name="description" value=${draft.description} onInput=${set('description')} /></label>
    <${Backtest} draft=${draft} />
    <button type="submit">${rule ? 'Save rule' : 'Create rule'}</button>
    <${Problem} error=${error} />
  </form>`;
}

function History({ id }: { id: string }) {
  const loaded = useLoad(() => api('GET', `/alerts/${id}/history`, { query: { limit: 50 } }), [id]);
  return html`<${Show} loaded=${loaded}>${(b: any) =>
    b.data.length === 0
      ? html`<${Empty}>No transitions yet.<//>`
      : html`<table>
    <thead><tr><th>at</th><th>from → to</th><th>value</th><th>labels</th></tr></thead>
    <tbody>${b.data.map(
      (t: any) => html`<tr><td><${Time} at=${t.at} /></td><td>${t.from} → <${Badge} value=${t.to} /></td>
      <td>${t.value === null ? '' : num(t.value)}</td><td><code>${JSON.stringify(t.labels)}</code></td></tr>`,
    )}</tbody></table>`}<//>`;
}

function RuleRow({ rule, moderator, onChanged }: { rule: Rule; moderator: boolean; onChanged: () => void }) {
  const [open, setOpen] = useState(false);
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = async () => {
    if (!confirm(`Delete the rule ${rule.name}?`)) return;
    try {
      await api('DELETE', `/alerts/${rule.id}`);
      onChanged();
    } catch (err) {
      setError(err);
    }
  };
  return html`<li class="rule">
    <button type="button" class="link" aria-expanded=${open} onClick=${() => setOpen(!open)}>${rule.name}</button>${' '}
    <${Badge} value=${rule.state} /> <code>${rule.query}</code>${
      rule.threshold_value !== null ? ` (threshold ${rule.threshold_value})` : ''
    }
    ${
      rule.active_instances.length > 0 &&
      html`<ul>${rule.active_instances.map(
        (i) => html`<li><${Badge} value=${i.state} />
      <code>${JSON.stringify(i.labels)}</code> value ${num(i.value)}, active since <${Time} at=${i.active_at} /></li>`,
      )}</ul>`
    }
    ${
      moderator &&
      html`<span class="row"><button type="button" onClick=${() => setEditing(!editing)}>Edit</button>
      <button type="button" class="danger" onClick=${remove}>Delete</button></span>`
    }
    <${Problem} error=${error} />
    ${
      editing &&
      html`<${RuleForm} rule=${rule} onSaved=${() => {
        setEditing(false);
        onChanged();
      }} />`
    }
    ${
      open &&
      html`<div><h3>History</h3><${History} id=${rule.id} /><details><summary>Rule</summary><${Json}
      value=${rule} /></details></div>`
    }
  </li>`;
}

export function AlertsPage({ me }: { me: Claims | null }) {
  const moderator = atLeast(me, 'moderator');
  const loaded = useLoad(() => api('GET', '/alerts'), []);
  useEffect(() => {
    const timer = setInterval(loaded.reload, 5000);
    return () => clearInterval(timer);
  }, []);
  return html`<h1>Alerts</h1>
    ${
      moderator
        ? html`<details><summary>New rule</summary><${RuleForm} rule=${null} onSaved=${loaded.reload} /></details>`
        : html`<p class="muted">Rules are created and changed by moderators; your role is ${me?.role}.</p>`
    }
    <${Show} loaded=${loaded}>${(b: { data: Rule[] }) =>
      b.data.length === 0
        ? html`<${Empty}>No alert rules.<//>`
        : html`<ul class="rules">${b.data.map(
            (r) => html`<${RuleRow} key=${r.id} rule=${r} moderator=${moderator}
          onChanged=${loaded.reload} />`,
          )}</ul>`}<//>`;
}
