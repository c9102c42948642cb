import { useState } from 'preact/hooks';
import { api, get, type Session } from '../api.ts';
import { Badge, Confirm, Empty, ErrorBox, html, Section, Time, useLoad } from '../ui.ts';
import type { Token } from '../types.ts';

const SCOPES = ['read', 'publish', 'admin'] as const;
const allowed = (role: Session['role']) => (role === 'admin' ? SCOPES : role === 'operator' ? SCOPES.slice(0, 2) : SCOPES.slice(0, 1));

export function TokensPage(props: { session: Session }) {
  const tokens = useLoad((s) => get<{ items: Token[] }>('/tokens', s), []);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['read']);
  const [days, setDays] = useState('90');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const t = await api<Token & { token: string }>('POST', '/tokens', { name, scopes, ...(days ? { expiresInDays: Number(days) } : {}) });
      setSecret({ name: t.name, token: t.token });
      setName('');
      tokens.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const status = (t: Token) => (t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) < Date.now() ? 'expired' : 'active');
  return html`<div class="page">
    <h1>API tokens</h1>
    ${secret
      ? html`<section class="card secret" role="status">
          <h2>Token "${secret.name}" created</h2>
          <p>Copy it now: it is shown only once and the server keeps only its hash.</p>
          <pre class="token-secret">${secret.token}</pre>
          <button class="small secondary" onClick=${() => setSecret(null)}>I have stored it</button>
        </section>`
      : null}
    <${Section} title="Tokens" what="tokens" load=${tokens}>
      ${(d: { items: Token[] }) =>
        d.items.length === 0
          ? html`<${Empty}>No API tokens yet.<//>`
          : html`<table class="tokens">
              <thead><tr><th>Name</th><th>Scopes</th><th>Status</th><th>Created</th><th>Expires</th><th>Last used</th><th></th></tr></thead>
              <tbody>
                ${d.items.map(
                  (t) => html`<tr key=${t.id} data-token=${t.name}>
                    <td>${t.name}</td>
                    <td>${t.scopes.join(', ')}</td>
                    <td><${Badge} value=${status(t)} /></td>
                    <td><${Time} at=${t.createdAt} /></td>
                    <td>${t.expiresAt ? html`<${Time} at=${t.expiresAt} />` : 'never'}</td>
                    <td><${Time} at=${t.lastUsedAt} /></td>
                    <td class="right">${t.revokedAt ? null : html`<button class="small danger" onClick=${() => setRevoking(t)}>Revoke</button>`}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    <//>
    <form class="card" onSubmit=${create}>
      <header class="card-head"><h2>New token</h2></header>
      <div class="form-grid">
        <label>Name<input name="name" value=${name} maxlength="100" onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} required /></label>
        <label>Expires in days (empty: never)<input name="expiresInDays" type="number" min="1" max="3650" value=${days} onInput=${(e: Event) => setDays((e.target as HTMLInputElement).value)} /></label>
        <fieldset><legend>Scopes</legend>
          ${allowed(props.session.role).map(
            (s) => html`<label class="check"><input type="checkbox" name=${`scope-${s}`} checked=${scopes.includes(s)} onChange=${(e: Event) => setScopes((e.target as HTMLInputElement).checked ? [...scopes, s] : scopes.filter((x) => x !== s))} /> ${s}</label>`,
          )}
        </fieldset>
      </div>
      <${ErrorBox} error=${error} what="the token" />
      <button type="submit" disabled=${busy || scopes.length === 0}>${busy ? 'Creating…' : 'Create token'}</button>
    </form>
    ${revoking
      ? html`<${Confirm}
          title=${`Revoke the token "${revoking.name}"?`}
          confirmLabel="Revoke"
          danger=${true}
          onCancel=${() => setRevoking(null)}
          onConfirm=${async () => {
            await api('DELETE', `/tokens/${revoking.id}`);
            setRevoking(null);
            tokens.reload();
          }}
        ><p>Anything using it is refused from now on.</p><//>`
      : null}
  </div>`;
}
