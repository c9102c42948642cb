import { useState } from 'preact/hooks';
import { login, type Session } from '../api.ts';
import { ErrorBox, html } from '../ui.ts';

export function LoginPage(props: { notice: string | null; onLogin: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      props.onLogin(await login(username, password));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<div class="login">
    <form class="card login-card" onSubmit=${submit}>
      <h1>Suture</h1>
      <p class="muted">Log in to the dashboard.</p>
      ${props.notice ? html`<p class="notice">${props.notice}</p>` : null}
      <label>Username<input name="username" autocomplete="username" value=${username} onInput=${(e: Event) => setUsername((e.target as HTMLInputElement).value)} required /></label>
      <label>Password<input name="password" type="password" autocomplete="current-password" value=${password} onInput=${(e: Event) => setPassword((e.target as HTMLInputElement).value)} required /></label>
      <${ErrorBox} error=${error} what="a session" />
      <button type="submit" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
      <p class="hint">No account yet? An admin is created on the server's machine: <code>pnpm suture admin create --username NAME</code>.</p>
    </form>
  </div>`;
}
