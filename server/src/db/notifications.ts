/**
 * PostgreSQL LISTEN/NOTIFY behind one small interface, for PostgreSQL (a dedicated connection
 * outside the pool, so a LISTEN is never handed to a query) and for PGlite (its own `listen`).
 * Reconnecting is the caller's job (lib/pg-listener.ts): a session reports when it ends.
 */
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

export interface ListenSession {
  /** Resolves when the session is over: dropped (with the error) or closed (undefined). */
  ended: Promise<Error | undefined>;
  /** A round trip on the listening connection (finds a half-open one). */
  ping(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface Notifications {
  /** Opens a session that LISTENs on `channel`; rejects when it cannot connect. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<ListenSession>;
  /** NOTIFY on `channel` (delivered after the sender's transaction commits). */
  notify(channel: string, payload: string): Promise<void>;
}

/** Identifiers we LISTEN on are ours, never input; still, keep them to safe characters. */
function checkChannel(channel: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`bad channel name ${channel}`);
  return channel;
}

/** Ends a client without waiting long: on a connection that already broke, end() may never settle. */
async function end(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => {}), new Promise<void>((res) => (timer = setTimeout(res, 2_000)))]);
  clearTimeout(timer);
}

export function postgresNotifications(opts: { connectionString: string; connectTimeoutMs: number; notify: (sql: string, params: string[]) => Promise<unknown> }): Notifications {
  return {
    async listen(channel, onPayload) {
      const client = new pg.Client({ connectionString: opts.connectionString, connectionTimeoutMillis: opts.connectTimeoutMs, keepAlive: true, application_name: 'suture-listener' });
      let finish!: (err: Error | undefined) => void;
      const ended = new Promise<Error | undefined>((res) => (finish = res));
      // Listeners before connecting: a dropped connection emits 'error' and then 'end'.
      client.on('error', (err) => finish(err));
      client.on('end', () => finish(new Error('the listening connection ended')));
      client.on('notification', (n) => {
        if (n.channel === channel && n.payload !== undefined) onPayload(n.payload);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${checkChannel(channel)}`);
      } catch (err) {
        void end(client);
        throw err;
      }
      let closing: Promise<void> | undefined;
      return {
        ended,
        ping: async () => void (await client.query('SELECT 1')),
        close: () =>
          (closing ??= (async () => {
            finish(undefined);
            await end(client);
          })()),
      };
    },
    notify: async (channel, payload) => void (await opts.notify('SELECT pg_notify($1, $2)', [checkChannel(channel), payload])),
  };
}

export function pgliteNotifications(pglite: PGlite): Notifications {
  return {
    async listen(channel, onPayload) {
      const unlisten = await pglite.listen(checkChannel(channel), onPayload);
      let finish!: (err: Error | undefined) => void;
      const ended = new Promise<Error | undefined>((res) => (finish = res));
      let closing: Promise<void> | undefined;
      return {
        ended,
        ping: async () => void (await pglite.query('SELECT 1')),
        close: () =>
          (closing ??= (async () => {
            finish(undefined);
            if (!pglite.closed) await unlisten().catch(() => {});
          })()),
      };
    },
    notify: async (channel, payload) => void (await pglite.query('SELECT pg_notify($1, $2)', [checkChannel(channel), payload])),
  };
}
