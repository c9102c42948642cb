/**
 * One dedicated LISTEN on the shared database, kept open: when the connection drops (PostgreSQL
 * restarted, the backend terminated, a half-open TCP found by the periodic ping) it reconnects
 * with exponential back-off and jitter. Every (re)connect calls `onConnected`, because anything
 * notified while nobody listened is lost: the caller resyncs from state then.
 */
import type { Logger } from 'pino';
import type { ListenSession, Notifications } from '../db/index.ts';

export interface PgListenerOptions {
  notifications: Notifications;
  channel: string;
  onPayload: (payload: string) => void;
  /** After every successful LISTEN (the first one too); errors are logged. */
  onConnected: () => Promise<void>;
  log: Logger;
  /** How often the listening connection is checked with a round trip (default 10 s). */
  pingMs?: number;
  /** Back-off bounds (default 250 ms .. 10 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface PgListener {
  /** Tries to LISTEN once and returns (a failure is retried in the background). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether a LISTEN is in place now. */
  readonly listening: boolean;
  /** Successful LISTENs so far (1 after the first connect). */
  readonly connects: number;
}

export function createPgListener(opts: PgListenerOptions): PgListener {
  const { log } = opts;
  const pingMs = opts.pingMs ?? 10_000;
  const minBackoff = opts.minBackoffMs ?? 250;
  const maxBackoff = opts.maxBackoffMs ?? 10_000;
  let session: ListenSession | undefined;
  let stopped = false;
  let connects = 0;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  let pinger: NodeJS.Timeout | undefined;

  const schedule = () => {
    if (stopped || retry) return;
    const base = Math.min(maxBackoff, minBackoff * 2 ** Math.min(failures, 10));
    failures++;
    retry = setTimeout(() => ((retry = undefined), void connect()), base * (0.5 + Math.random() / 2));
    retry.unref();
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    let s: ListenSession;
    try {
      s = await opts.notifications.listen(opts.channel, opts.onPayload);
    } catch (err) {
      if (failures === 0) log.warn({ err: { message: (err as Error).message } }, 'cannot LISTEN on the database; retrying with back-off');
      return schedule();
    }
    if (stopped) return void (await s.close());
    session = s;
    connects++;
    if (failures > 0) log.info({ attempts: failures }, 'LISTEN connection restored');
    failures = 0;
    void s.ended.then((err) => {
      if (session !== s) return;
      session = undefined;
      clearInterval(pinger);
      if (stopped) return;
      log.warn({ err: err ? { message: err.message } : undefined }, 'LISTEN connection lost; reconnecting');
      void s.close();
      schedule();
    });
    clearInterval(pinger);
    pinger = setInterval(() => {
      // A ping that fails or hangs means the connection is gone even if no error came in;
      // closing it ends the session, and the handler above reconnects.
      const timeout = setTimeout(() => void s.close(), pingMs);
      s.ping().then(
        () => clearTimeout(timeout),
        () => (clearTimeout(timeout), void s.close()),
      );
    }, pingMs);
    pinger.unref();
    await opts.onConnected().catch((err: unknown) => log.warn({ err }, 'resync after LISTEN failed'));
  }

  return {
    start: () => connect(),
    async stop() {
      stopped = true;
      clearTimeout(retry);
      clearInterval(pinger);
      const s = session;
      session = undefined;
      await s?.close();
    },
    get listening() {
      return session !== undefined;
    },
    get connects() {
      return connects;
    },
  };
}
