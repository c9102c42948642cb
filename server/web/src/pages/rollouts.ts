import { useState } from 'preact/hooks';
import { api, get, qs, type Session } from '../api.ts';
import { Badge, Confirm, Empty, ErrorBox, html, Link, Section, short, Time, useLoad } from '../ui.ts';
import type { Page, Patch, Rollout } from '../types.ts';

const canPublish = (s: Session) => s.role === 'admin' || s.role === 'operator';

export function RolloutsPage(props: { session: Session }) {
  const [status, setStatus] = useState('');
  const rollouts = useLoad((s) => get<Page<Rollout>>(`/rollouts${qs({ status, limit: 200 })}`, s), [status], { everyMs: 3000 });
  const patches = useLoad((s) => get<Page<Patch>>('/patches?limit=500', s), []);
  const [patchId, setPatchId] = useState('');
  const publisher = canPublish(props.session);
  const filter = html`<select aria-label="status" value=${status} onChange=${(e: Event) => setStatus((e.target as HTMLSelectElement).value)}>
    <option value="">any status</option>
    ${['scheduled', 'running', 'paused', 'halted', 'completed', 'aborted'].map((s) => html`<option value=${s}>${s}</option>`)}
  </select>`;
  return html`<div class="page">
    <h1>Rollouts</h1>
    <${Section} title="Staged rollouts" what="rollouts" load=${rollouts} actions=${filter}>
      ${(r: Page<Rollout>) => html`<${RolloutsTable} rollouts=${r.items} session=${props.session} onChange=${rollouts.reload} showPatch=${true} />`}
    <//>
    ${publisher
      ? html`<section class="card">
          <header class="card-head"><h2>New rollout</h2></header>
          <${ErrorBox} error=${patches.error} what="patches" retry=${patches.reload} />
          <label>Patch
            <select name="patchId" value=${patchId} onChange=${(e: Event) => setPatchId((e.target as HTMLSelectElement).value)}>
              <option value="">choose a patch…</option>
              ${(patches.data?.items ?? []).map((p) => html`<option value=${p.id}>${p.id}: ${p.title}</option>`)}
            </select>
          </label>
          ${patchId ? html`<${RolloutForm} patchId=${patchId} onCreated=${() => (rollouts.reload(), setPatchId(''))} />` : null}
        </section>`
      : null}
  </div>`;
}

/** The criteria of a new rollout through the rings; starts now unless a start time is given. */
export function RolloutForm(props: { patchId: string; onCreated: (r: Rollout) => void }) {
  const [stageMinutes, setStageMinutes] = useState('10');
  const [minAppliedShare, setShare] = useState('95');
  const [maxFailures, setMaxFailures] = useState('0');
  const [maxCrashes, setMaxCrashes] = useState('0');
  const [startAt, setStartAt] = useState('');
  const [unapplyOnAbort, setUnapply] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const val = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<Rollout>('POST', '/rollouts', {
        patchId: props.patchId,
        stageMinutes: Number(stageMinutes),
        minAppliedShare: Number(minAppliedShare) / 100,
        maxFailures: Number(maxFailures),
        maxCrashes: Number(maxCrashes),
        unapplyOnAbort,
        ...(startAt ? { startAt: new Date(startAt).toISOString() } : {}),
      });
      props.onCreated(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="rollout-form" onSubmit=${submit}>
    <h3>Roll out ${props.patchId} through the rings</h3>
    <div class="form-grid">
      <label>Minutes per stage<input name="stageMinutes" type="number" min="0.05" step="any" value=${stageMinutes} onInput=${val(setStageMinutes)} required /></label>
      <label>Applied share to pass (%)<input name="minAppliedShare" type="number" min="0" max="100" step="any" value=${minAppliedShare} onInput=${val(setShare)} required /></label>
      <label>Failures before halting<input name="maxFailures" type="number" min="0" step="1" value=${maxFailures} onInput=${val(setMaxFailures)} required /></label>
      <label>Crashes before halting<input name="maxCrashes" type="number" min="0" step="1" value=${maxCrashes} onInput=${val(setMaxCrashes)} required /></label>
      <label>Start at (empty: now)<input name="startAt" type="datetime-local" value=${startAt} onInput=${val(setStartAt)} /></label>
      <label class="check"><input type="checkbox" checked=${unapplyOnAbort} onChange=${(e: Event) => setUnapply((e.target as HTMLInputElement).checked)} /> unapply if aborted</label>
    </div>
    <${ErrorBox} error=${error} what="the rollout" />
    <button type="submit" disabled=${busy}>${busy ? 'Starting…' : 'Start rollout'}</button>
  </form>`;
}

export function RolloutsTable(props: { rollouts: Rollout[]; session: Session; onChange: () => void; showPatch: boolean }) {
  const [error, setError] = useState<unknown>(undefined);
  const [aborting, setAborting] = useState<Rollout | null>(null);
  const [unapply, setUnapply] = useState(true);
  const publisher = canPublish(props.session);
  if (props.rollouts.length === 0) return html`<${Empty}>No rollouts${props.showPatch ? '' : ' of this patch'} yet.<//>`;
  const act = async (r: Rollout, action: 'pause' | 'resume') => {
    setError(undefined);
    try {
      await api('POST', `/rollouts/${r.id}/${action}`);
      props.onChange();
    } catch (err) {
      setError(err);
    }
  };
  return html`<div>
    <${ErrorBox} error=${error} />
    <table class="rollouts">
      <thead><tr>${props.showPatch ? html`<th>Patch</th>` : null}<th>Status</th><th>Stages</th><th>Criteria</th><th>Starts / started</th>${publisher ? html`<th></th>` : null}</tr></thead>
      <tbody>
        ${[...props.rollouts].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map(
          (r) => html`<tr key=${r.id} data-rollout=${r.id} data-status=${r.status}>
            ${props.showPatch ? html`<td><${Link} href=${`/patches/${encodeURIComponent(r.patchId)}`}>${r.patchId}<//></td>` : null}
            <td><${Badge} value=${r.status} />${r.haltReason ? html`<div class="small bad-text">${r.haltReason}</div>` : null}</td>
            <td>
              ${r.stages.length === 0 ? html`<span class="muted">no ring has agents</span>` : null}
              <ol class="stages">
                ${r.stages.map(
                  (s) => html`<li class=${s.position === r.currentStage ? 'current' : ''}>
                    <${Badge} value=${s.status} /> ring ${s.ring} (${s.groups.join(', ')}): ${s.applied}/${s.agents} applied${s.failures ? `, ${s.failures} failures` : ''}${s.crashes ? `, ${s.crashes} crashes` : ''}
                  </li>`,
                )}
              </ol>
            </td>
            <td class="small">${r.criteria.stageMinutes} min/stage, ≥${Math.round(r.criteria.minAppliedShare * 100)}% applied, ≤${r.criteria.maxFailures} failures, ≤${r.criteria.maxCrashes} crashes</td>
            <td><${Time} at=${r.startAt} /><div class="muted mono small">${short(r.id)}</div></td>
            ${publisher
              ? html`<td class="right nowrap">
                  ${r.status === 'running' || r.status === 'scheduled' ? html`<button class="small secondary" onClick=${() => act(r, 'pause')}>Pause</button>` : null}
                  ${r.status === 'paused' || r.status === 'halted' ? html`<button class="small" onClick=${() => act(r, 'resume')}>Resume</button>` : null}
                  ${['scheduled', 'running', 'paused', 'halted'].includes(r.status) ? html`<button class="small danger" onClick=${() => (setUnapply(r.unapplyOnAbort), setAborting(r))}>Abort</button>` : null}
                </td>`
              : null}
          </tr>`,
        )}
      </tbody>
    </table>
    ${aborting
      ? html`<${Confirm}
          title=${`Abort the rollout of ${aborting.patchId}?`}
          confirmLabel="Abort rollout"
          danger=${true}
          onCancel=${() => setAborting(null)}
          onConfirm=${async () => {
            await api('POST', `/rollouts/${aborting.id}/abort`, { unapply });
            setAborting(null);
            props.onChange();
          }}
        >
          <p>The rollout stops for good; it cannot be resumed.</p>
          <label class="check"><input type="checkbox" checked=${unapply} onChange=${(e: Event) => setUnapply((e.target as HTMLInputElement).checked)} /> also disable the patch and take it out of every group the rollout reached</label>
        <//>`
      : null}
  </div>`;
}
