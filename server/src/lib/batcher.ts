/**
 * Group commit: callers enqueue items and get a promise; one flush runs at a time, and whatever
 * arrives while it runs forms the next batch (at most `maxBatch` items each). A caller's promise
 * resolves once the flush that took its item has stored it, and rejects with that flush's
 * error, so a failure reaches only the callers of that batch. Items are flushed in the order
 * they were added. Every caller of a batch gets what its flush returned.
 */
export interface Batcher<T, R = void> {
  add(item: T): Promise<R>;
  /** Items waiting for a flush (not counting the one running). */
  readonly queued: number;
  /** Resolves when nothing is queued or being flushed. */
  drain(): Promise<void>;
}

interface Entry<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export function createBatcher<T, R = void>(opts: { flush: (items: T[]) => Promise<R>; maxBatch: number }): Batcher<T, R> {
  if (!(opts.maxBatch >= 1)) throw new Error('maxBatch must be at least 1');
  let queue: Entry<T, R>[] = [];
  let running: Promise<void> | undefined;
  let scheduled = false;

  async function run(): Promise<void> {
    while (queue.length) {
      const batch = queue.slice(0, opts.maxBatch);
      queue = queue.slice(batch.length);
      try {
        const result = await opts.flush(batch.map((e) => e.item));
        for (const e of batch) e.resolve(result);
      } catch (err) {
        for (const e of batch) e.reject(err);
      }
    }
  }

  // Started on the next turn of the event loop, not at once: items arriving from the same
  // batch of socket reads go into one flush.
  function schedule(): void {
    if (running || scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      running = run().finally(() => {
        running = undefined;
        if (queue.length) schedule(); // added while the last flush was settling
      });
    });
  }

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
    get queued() {
      return queue.length;
    },
    async drain() {
      while (running || scheduled || queue.length) await (running ?? new Promise((r) => setImmediate(r)));
    },
  };
}
