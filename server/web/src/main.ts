/** The dashboard: log in, then the pages (one per path; the server serves this app for each). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, loadSession, onSessionExpired, saveSession, type Session } from './api.ts';
import { html, Link, navigate, useLocation } from './ui.ts';
import { LoginPage } from './pages/login.ts';
import { OverviewPage } from './pages/overview.ts';
import { AgentPage, AgentsPage } from './pages/agents.ts';
import { PatchPage, PatchesPage } from './pages/patches.ts';
import { RolloutsPage } from './pages/rollouts.ts';
import { AuditPage } from './pages/audit.ts';
import { TokensPage } from './pages/tokens.ts';
import { CvePage } from './pages/cves.ts';
import './app.css';

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/agents', 'Agents'],
  ['/patches', 'Patches'],
  ['/rollouts', 'Rollouts'],
  ['/cves', 'CVEs'],
  ['/audit', 'Audit log'],
  ['/tokens', 'API tokens'],
];

function page(path: string, session: Session) {
  const m = (re: RegExp) => re.exec(path);
  let r: RegExpExecArray | null;
  if (path === '/' || path === '') return html`<${OverviewPage} />`;
  if (path === '/agents') return html`<${AgentsPage} />`;
  if ((r = m(/^\/agents\/([^/]+)$/))) return html`<${AgentPage} id=${decodeURIComponent(r[1]!)} />`;
  if (path === '/patches') return html`<${PatchesPage} />`;
  if ((r = m(/^\/patches\/([^/]+)$/))) return html`<${PatchPage} id=${decodeURIComponent(r[1]!)} session=${session} />`;
  if (path === '/rollouts') return html`<${RolloutsPage} session=${session} />`;
  if (path === '/audit') return html`<${AuditPage} />`;
  if (path === '/tokens') return html`<${TokensPage} session=${session} />`;
  if (path === '/cves') return html`<${CvePage} cve=${null} />`;
  if ((r = m(/^\/cves\/([^/]+)$/))) return html`<${CvePage} cve=${decodeURIComponent(r[1]!)} />`;
  return html`<section class="card"><h2>Not found</h2><p>There is no page at ${path}. <${Link} href="/">Go to the overview<//>.</p></section>`;
}

function App() {
  const [session, setSession] = useState<Session | null>(loadSession());
  const [notice, setNotice] = useState<string | null>(null);
  const path = useLocation();
  useEffect(() => {
    onSessionExpired(() => {
      saveSession(null);
      setSession(null);
      setNotice('Your session has ended; log in again.');
    });
    // The token may have been revoked or the server's secret changed: check it once.
    if (session) api('GET', '/auth/me').catch(() => {});
  }, []);
  useEffect(() => {
    if (!session) return;
    const t = setTimeout(() => {
      saveSession(null);
      setSession(null);
      setNotice('Your session has expired; log in again.');
    }, Math.max(0, Date.parse(session.expiresAt) - Date.now()));
    return () => clearTimeout(t);
  }, [session]);

  if (!session || path === '/login') {
    return html`<${LoginPage}
      notice=${notice}
      onLogin=${(s: Session) => {
        setSession(s);
        setNotice(null);
        if (location.pathname === '/login') navigate('/', { replace: true });
      }}
    />`;
  }
  const logout = () => {
    saveSession(null);
    setSession(null);
    setNotice('Logged out.');
  };
  const active = (href: string) => (href === '/' ? path === '/' : path === href || path.startsWith(href + '/'));
  return html`<div class="layout">
    <nav class="side">
      <div class="brand">Suture</div>
      ${NAV.map(([href, label]) => html`<${Link} href=${href} class=${active(href) ? 'nav active' : 'nav'}>${label}<//>`)}
      <div class="who">
        <div>${session.username} <span class="badge muted">${session.role}</span></div>
        <button class="small secondary" onClick=${logout}>Log out</button>
      </div>
    </nav>
    <main>${page(path, session)}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
