import type { Db } from '../db/index.ts';

export interface IndexedManifest {
  version: number;
  expiresAt: Date;
  envelope: Uint8Array;
}

/**
 * Each refresh looks at rows updated since the previous refresh started, minus this overlap:
 * updatedAt is stamped by the writing replica's clock before its transaction commits, so a row
 * can become visible with a slightly older stamp.
 */
const OVERLAP_MS = 5_000;

/**
 * An in-memory copy of every signed manifest (one row per patched module, ~1.5 KB each), so
 * the batch lookup every agent makes touches no database. It is refreshed incrementally (rows
 * whose updatedAt moved) at most every `refreshMs`; this replica's own changes invalidate it at
 * once, other replicas' changes arrive within `refreshMs`. A row never replaces a newer version.
 */
export function createManifestIndex({ db, refreshMs }: { db: Db; refreshMs: number }) {
  const entries = new Map<string, IndexedManifest>();
  let lastRefreshStart: number | null = null;
  let checkedAt = 0;
  let inflight: Promise<void> | null = null;

  function put(moduleSha256: string, m: IndexedManifest): void {
    const cur = entries.get(moduleSha256);
    if (!cur || m.version >= cur.version) entries.set(moduleSha256, m);
  }

  async function refresh(): Promise<void> {
    const startedAt = Date.now();
    const since = new Date(lastRefreshStart === null ? 0 : lastRefreshStart - OVERLAP_MS);
    // Versions first (small rows); envelopes only for what this replica does not have yet.
    const moved = await db.prisma.manifest.findMany({ where: { updatedAt: { gte: since } }, select: { moduleSha256: true, version: true } });
    const wanted = moved.filter((r) => (entries.get(r.moduleSha256)?.version ?? 0) < r.version).map((r) => r.moduleSha256);
    for (let i = 0; i < wanted.length; i += 1000) {
      const rows = await db.prisma.manifest.findMany({
        where: { moduleSha256: { in: wanted.slice(i, i + 1000) } },
        select: { moduleSha256: true, version: true, expiresAt: true, envelope: true },
      });
      for (const r of rows) put(r.moduleSha256, { version: r.version, expiresAt: r.expiresAt, envelope: new Uint8Array(r.envelope) });
    }
    lastRefreshStart = startedAt;
    checkedAt = startedAt;
  }

  return {
    put,
    get: (moduleSha256: string) => entries.get(moduleSha256),
    /** After a change on this replica: the next lookup re-reads what moved. */
    invalidate(): void {
      checkedAt = 0;
    },
    async ensureFresh(): Promise<void> {
      if (Date.now() - checkedAt < refreshMs) return;
      inflight ??= refresh().finally(() => {
        inflight = null;
      });
      await inflight;
    },
    get size() {
      return entries.size;
    },
  };
}
export type ManifestIndex = ReturnType<typeof createManifestIndex>;
