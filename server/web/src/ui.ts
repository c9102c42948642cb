/** Small building blocks shared by the pages: loading and error states, badges, tables, the chart, navigation. */
import { h, type ComponentChildren, type VNode } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { ApiError } from './api.ts';

export const html = htm.bind(h) as (strings: TemplateStringsArray, ...values: unknown[]) => VNode;

// --- navigation (history API; the server answers every dashboard path with the app) ---
const listeners = new Set<() => void>();
export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((l) => l());
  window.scrollTo(0, 0);
}
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

export function useLocation(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const l = () => setPath(location.pathname);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return path;
}

/** Same-origin links move within the app without a page load. */
export function Link(props: { href: string; class?: string; children?: ComponentChildren }) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return html`<a href=${props.href} class=${props.class} onClick=${onClick}>${props.children}</a>`;
}

// --- loading data ---
export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads `fn()` when `deps` change (and on `reload`, or every `everyMs`); a failed reload keeps the last data. */
export function useLoad<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[], opts: { everyMs?: number } = {}): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const ac = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    fn(ac.signal).then(
      (data) => !ac.signal.aborted && setState({ data, error: undefined, loading: false }),
      (error) => !ac.signal.aborted && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => ac.abort();
  }, [...deps, tick]);
  useEffect(() => {
    if (!opts.everyMs) return;
    const t = setInterval(reload, opts.everyMs);
    return () => clearInterval(t);
  }, [opts.everyMs]);
  return { ...state, reload };
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.missingEndpoint) return `This server does not offer ${err.path.split('?')[0]} (yet): ${err.message}. Update the server to use this view.`;
    if (err.status === 403) return `Not allowed: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function ErrorBox(props: { error: unknown; what?: string; retry?: () => void }) {
  if (!props.error) return null;
  return html`<div class="error" role="alert">
    <strong>${props.what ? `Could not load ${props.what}` : 'Something went wrong'}</strong>
    <span>${errorText(props.error)}</span>
    ${props.retry ? html`<button class="small" onClick=${props.retry}>Retry</button>` : null}
  </div>`;
}

/** The usual frame around loaded data: a spinner first, an error box on failure. */
export function Section<T>(props: { title?: string; what: string; load: Loaded<T>; actions?: ComponentChildren; children: (data: T) => ComponentChildren }) {
  const { data, error, loading, reload } = props.load;
  return html`<section class="card">
    ${props.title ? html`<header class="card-head"><h2>${props.title}</h2><div class="actions">${props.actions}</div></header>` : null}
    ${error ? html`<${ErrorBox} error=${error} what=${props.what} retry=${reload} />` : null}
    ${data !== undefined ? props.children(data) : loading ? html`<p class="muted">Loading ${props.what}…</p>` : null}
  </section>`;
}

// --- presentation ---
const TONES: Record<string, string> = {
  online: 'ok', applied: 'ok', published: 'ok', completed: 'ok', passed: 'ok', acknowledged: 'ok', adopted: 'ok', active: 'ok', enabled: 'ok',
  offline: 'muted', pending: 'muted', scheduled: 'muted', withdrawn: 'muted', unapplied: 'muted', expired: 'muted', 'not enabled': 'muted',
  running: 'info', paused: 'warn', busy: 'warn', low: 'info', medium: 'warn',
  revoked: 'bad', halted: 'bad', aborted: 'bad', failed: 'bad', refused: 'bad', crash: 'bad', high: 'bad', critical: 'crit', vulnerable: 'bad',
};
export function Badge(props: { value: string; tone?: string }) {
  return html`<span class=${`badge ${props.tone ?? TONES[props.value] ?? 'muted'}`}>${props.value}</span>`;
}

export function Time(props: { at: string | null | undefined }) {
  if (!props.at) return html`<span class="muted">—</span>`;
  const d = new Date(props.at);
  return html`<time datetime=${props.at} title=${d.toISOString()}>${ago(d)}</time>`;
}

export function ago(d: Date): string {
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < -5) {
    const f = -s;
    if (f < 60) return `in ${f} s`;
    if (f < 3600) return `in ${Math.floor(f / 60)} min`;
    if (f < 86400) return `in ${Math.floor(f / 3600)} h`;
    return d.toISOString().slice(0, 16).replace('T', ' ');
  }
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

export function Stat(props: { label: string; value: ComponentChildren; tone?: string; sub?: ComponentChildren; href?: string }) {
  const body = html`<div class=${`stat ${props.tone ?? ''}`}><div class="stat-value">${props.value}</div><div class="stat-label">${props.label}</div>${props.sub ? html`<div class="stat-sub">${props.sub}</div>` : null}</div>`;
  return props.href ? html`<${Link} href=${props.href} class="stat-link">${body}<//>` : body;
}

export function Empty(props: { children: ComponentChildren }) {
  return html`<p class="empty">${props.children}</p>`;
}

export function Bar(props: { value: number; total: number; tone?: string }) {
  const pct = props.total > 0 ? Math.round((props.value / props.total) * 100) : 0;
  return html`<div class="bar" role="progressbar" aria-valuenow=${pct} aria-valuemin="0" aria-valuemax="100">
    <svg viewBox="0 0 100 8" preserveAspectRatio="none"><rect width="100" height="8" class="bar-bg" /><rect width=${pct} height="8" class=${`bar-fg ${props.tone ?? 'ok'}`} /></svg>
    <span>${pct}%</span>
  </div>`;
}

/** Lines over time, drawn as SVG (no chart library): one polyline per series. */
export function LineChart(props: { points: { at: string; values: Record<string, number> }[]; series: { key: string; label: string; tone: string }[]; empty?: string | undefined }) {
  const W = 640, H = 180, L = 36, B = 22, T = 8, R = 8;
  const pts = props.points;
  if (pts.length === 0) return html`<${Empty}>${props.empty ?? 'No samples yet: the server records coverage periodically (every 5 minutes unless COVERAGE_SAMPLE_SECONDS says otherwise).'}<//>`;
  const xs = pts.map((p) => Date.parse(p.at));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const maxY = Math.max(1, ...pts.flatMap((p) => props.series.map((s) => p.values[s.key] ?? 0)));
  const sx = (t: number) => L + (x1 === x0 ? (W - L - R) / 2 : ((t - x0) / (x1 - x0)) * (W - L - R));
  const sy = (v: number) => T + (1 - v / maxY) * (H - T - B);
  const ticks = [0, Math.round(maxY / 2), maxY].filter((v, i, a) => a.indexOf(v) === i);
  const fmt = (t: number) => new Date(t).toTimeString().slice(0, 5);
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label="coverage over time">
      ${ticks.map((v) => html`<g><line x1=${L} x2=${W - R} y1=${sy(v)} y2=${sy(v)} class="grid" /><text x=${L - 6} y=${sy(v) + 4} class="axis" text-anchor="end">${v}</text></g>`)}
      <text x=${L} y=${H - 6} class="axis">${fmt(x0)}</text>
      <text x=${W - R} y=${H - 6} class="axis" text-anchor="end">${fmt(x1)}</text>
      ${props.series.map((s) =>
        pts.length === 1
          ? html`<circle cx=${sx(xs[0]!)} cy=${sy(pts[0]!.values[s.key] ?? 0)} r="3" class=${`line ${s.tone}`} />`
          : html`<polyline points=${pts.map((p, i) => `${sx(xs[i]!).toFixed(1)},${sy(p.values[s.key] ?? 0).toFixed(1)}`).join(' ')} class=${`line ${s.tone}`} />`,
      )}
    </svg>
    <figcaption>${props.series.map((s) => html`<span class=${`legend ${s.tone}`}>${s.label}</span>`)}</figcaption>
  </figure>`;
}

/** A modal confirmation; `onConfirm` may be async (the button waits, an error is shown). */
export function Confirm(props: { title: string; children: ComponentChildren; confirmLabel: string; danger?: boolean; onConfirm: () => Promise<void> | void; onCancel: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const go = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<dialog ref=${ref} class="dialog" onCancel=${(e: Event) => (e.preventDefault(), props.onCancel())}>
    <h3>${props.title}</h3>
    <div class="dialog-body">${props.children}</div>
    <${ErrorBox} error=${error} />
    <div class="dialog-actions">
      <button class="secondary" onClick=${props.onCancel} disabled=${busy}>Cancel</button>
      <button class=${props.danger ? 'danger' : ''} onClick=${go} disabled=${busy}>${busy ? 'Working…' : props.confirmLabel}</button>
    </div>
  </dialog>`;
}

export function short(id: string, n = 8) {
  return id.length > n ? id.slice(0, n) : id;
}
