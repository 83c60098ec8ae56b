/** The console's shell: sign-in with a pasted token, navigation, and a hash router (the token is never in a URL). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { atLeast, claims, session } from './api.ts';
import { AlertsPage } from './pages/alerts.ts';
import { EventsPage } from './pages/events.ts';
import { IncidentPage } from './pages/incident.ts';
import { IncidentsPage } from './pages/incidents.ts';
import { MetricsPage } from './pages/metrics.ts';
import { StatsPage } from './pages/stats.ts';
import { TracePage } from './pages/trace.ts';
import { TracesPage } from './pages/traces.ts';
import { html } from './ui.ts';
import './style.css';

function SignIn({ onSignIn }: { onSignIn: () => void }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    if (!claims(token.trim())) return setProblem('That is not a vigil token (a JWT with sub and role).');
    session.signIn(token);
    onSignIn();
  };
  return html`<main class="signin">
    <h1>vigil</h1>
    <form onSubmit=${submit}>
      <label for="token">Paste your token</label>
      <textarea id="token" name="token" rows="5" autofocus value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLTextAreaElement).value)}></textarea>
      <p class="muted">Get one with <code>npm run --silent token -- --role user</code>. It is kept in this tab only.</p>
      ${problem && html`<div class="error" role="alert">${problem}</div>`}
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}

const route = () => location.hash.replace(/^#\/?/, '').split('/');

function App() {
  const [token, setToken] = useState(session.token());
  const [path, setPath] = useState(route());
  useEffect(() => {
    const onHash = () => setPath(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (!token) return html`<${SignIn} onSignIn=${() => setToken(session.token())} />`;
  const me = claims(token);
  const signOut = () => {
    session.signOut();
    setToken(null);
  };
  const [page, id] = path;
  const moderator = atLeast(me, 'moderator');
  const links = [
    ['incidents', 'Incidents'],
    ['alerts', 'Alerts'],
    ['events', 'Events'],
    ['traces', 'Traces'],
    ['metrics', 'Metrics'],
  ];
  if (moderator) links.push(['stats', 'Stats']);
  const current = page || 'incidents';
  let body: ReturnType<typeof html>;
  if (current === 'incidents' && id) body = html`<${IncidentPage} id=${id} me=${me} />`;
  else if (current === 'incidents') body = html`<${IncidentsPage} me=${me} />`;
  else if (current === 'alerts') body = html`<${AlertsPage} me=${me} />`;
  else if (current === 'events') body = html`<${EventsPage} key=${id} trace=${id} />`;
  else if (current === 'traces' && id) body = html`<${TracePage} key=${id} id=${id} />`;
  else if (current === 'traces') body = html`<${TracesPage} />`;
  else if (current === 'metrics') body = html`<${MetricsPage} />`;
  else if (current === 'stats') body = html`<${StatsPage} me=${me} />`;
  else body = html`<p class="empty">No page ${current}.</p>`;
  return html`<header>
      <strong class="brand">vigil</strong>
      <nav>${links.map(
        ([href, label]) => html`<a href=${`#/${href}`}
        aria-current=${current === href ? 'page' : undefined}>${label}</a>`,
      )}</nav>
      <span class="who" title="from your token">${me?.sub} · <b class="role">${me?.role}</b></span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <main>${body}</main>`;
}

const root = document.getElementById('app')!;
root.textContent = ''; // the static "Loading…" of index.html
render(html`<${App} />`, root);
// When the first real page was rendered (the tests hold it to the first-paint budget).
performance.mark('vigil-console-rendered');
