/** Live streams as hooks: SIEM events (/events/follow) and an operation's progress (/operations/:id/follow). */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, qs, stream } from './api.ts';
import type { Progress, SiemEvent } from './types.ts';

export type LiveStatus = 'connecting' | 'live' | 'retrying' | 'unavailable';

/**
 * Follows new events (newest first, at most `keep`), seeded with `initial`. Reconnects with
 * back-off from the last seq seen; an endpoint the server does not have is reported, not retried.
 */
export function useLiveEvents(opts: { initial: SiemEvent[] | undefined; filter?: Record<string, string | undefined>; keep?: number }) {
  const keep = opts.keep ?? 50;
  const [events, setEvents] = useState<SiemEvent[]>([]);
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const [error, setError] = useState<unknown>(undefined);
  const seeded = opts.initial !== undefined;
  const key = JSON.stringify(opts.filter ?? {});
  useEffect(() => {
    if (!seeded) return;
    const initial = [...(opts.initial ?? [])].sort((a, b) => Number(b.seq) - Number(a.seq)).slice(0, keep);
    setEvents(initial);
    const ac = new AbortController();
    let last: string | null = initial[0]?.seq ?? null;
    (async () => {
      for (let attempt = 0; !ac.signal.aborted; attempt++) {
        setStatus(attempt === 0 ? 'connecting' : 'retrying');
        try {
          const path = `/events/follow${qs({ ...(opts.filter ?? {}), after: last ?? undefined })}`;
          let opened = false;
          await stream(
            path,
            (e) => {
              if (e.event !== 'event') return;
              const ev = JSON.parse(e.data) as SiemEvent;
              last = e.id ?? ev.seq;
              setEvents((cur) => (cur.some((c) => c.seq === ev.seq) ? cur : [ev, ...cur].slice(0, keep)));
            },
            { signal: ac.signal, lastEventId: last, onOpen: () => ((opened = true), setStatus('live'), setError(undefined), (attempt = 0)) },
          );
          // The server ended the stream (e.g. it is shutting down): connect again.
          if (opened) attempt = 0;
        } catch (err) {
          setError(err);
          if (err instanceof ApiError && (err.missingEndpoint || err.status === 401 || err.status === 403)) {
            setStatus('unavailable');
            return;
          }
        }
        if (ac.signal.aborted) return;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2)));
      }
    })();
    return () => ac.abort();
  }, [seeded, key]);
  return { events, status, error };
}

/** Follows an operation until `done`; progress updates as acknowledgements arrive. */
export function useOperation(id: string | null) {
  const [progress, setProgress] = useState<Progress | null>(null);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    if (!id) return;
    setProgress(null);
    setDone(false);
    setError(undefined);
    const ac = new AbortController();
    (async () => {
      let finished = false;
      for (let attempt = 0; !ac.signal.aborted && !finished; attempt++) {
        try {
          await stream(
            `/operations/${encodeURIComponent(id)}/follow`,
            (e) => {
              if (e.event === 'progress' || e.event === 'done') setProgress(JSON.parse(e.data) as Progress);
              if (e.event === 'done') (finished = true), setDone(true);
              if (e.event === 'error') setError(new Error((JSON.parse(e.data) as { message: string }).message));
            },
            { signal: ac.signal },
          );
        } catch (err) {
          setError(err);
          if (err instanceof ApiError && err.status >= 400 && err.status < 500) return;
        }
        if (!finished && !ac.signal.aborted) await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
      }
    })();
    return () => ac.abort();
  }, [id]);
  return { progress, done, error };
}
