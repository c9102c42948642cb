/**
 * Acknowledgements that can wait. An `events-ack` only lets an agent drop events from its disk
 * queue, so it goes out once what is being stored has been (`idle`), or after `maxDelayMs` at the
 * latest, merged per connection and split into messages of at most `maxIds`. In a burst (every
 * agent's outcome and command acknowledgement after a fleet-wide unapply) the server reads and
 * stores the acknowledgements first instead of interleaving thousands of sends with them; the
 * deferred sends then go out a thousand connections per turn of the event loop.
 */
export interface AckDeferral<K> {
  /** Queues `ids` for `key`'s connection; `send` (the latest one given for `key`) gets them later. */
  add(key: K, ids: readonly string[], send: (ids: string[]) => void): void;
  /** Connections with acknowledgements waiting. */
  readonly waiting: number;
}

const CONNECTIONS_PER_TURN = 1000;

export function createAckDeferral<K>(opts: { idle: () => Promise<void>; maxDelayMs: number; maxIds: number }): AckDeferral<K> {
  let due = new Map<K, { ids: string[]; send: (ids: string[]) => void }>();
  let scheduled = false;

  function sendSome(list: { ids: string[]; send: (ids: string[]) => void }[], from: number): void {
    const to = Math.min(list.length, from + CONNECTIONS_PER_TURN);
    for (let i = from; i < to; i++) {
      const d = list[i]!;
      for (let j = 0; j < d.ids.length; j += opts.maxIds) d.send(d.ids.slice(j, j + opts.maxIds));
    }
    if (to < list.length) setImmediate(() => sendSome(list, to));
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.maxDelayMs)).unref());
    void Promise.race([opts.idle().catch(() => {}), late]).then(() => {
      clearTimeout(timer);
      scheduled = false;
      const list = [...due.values()];
      due = new Map();
      sendSome(list, 0);
    });
  }

  return {
    add(key, ids, send) {
      const d = due.get(key);
      if (d) (d.ids.push(...ids), (d.send = send));
      else due.set(key, { ids: [...ids], send });
      schedule();
    },
    get waiting() {
      return due.size;
    },
  };
}
