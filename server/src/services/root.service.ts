import { pinRoot, updateRoot, type TrustState, type VerifiedEnvelope } from '@suture/shared/trust';
import type { RootDocument } from '@suture/shared/schemas';
import type { Db } from '../db/index.ts';
import { refused } from '../lib/errors.ts';

const CACHE_MS = 5_000;

/**
 * The root of trust as the server knows it: every accepted version is kept. The first upload
 * is trusted on first use (an admin did it); every later one must chain from the current one
 * with both thresholds, exactly as agents check it.
 */
export function createRootService({ db }: { db: Db }) {
  let cached: { at: number; value: VerifiedEnvelope<RootDocument> | null } | undefined;

  async function current(): Promise<VerifiedEnvelope<RootDocument> | null> {
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.value;
    const row = await db.prisma.rootVersion.findFirst({ orderBy: { version: 'desc' } });
    let value: VerifiedEnvelope<RootDocument> | null = null;
    if (row) {
      // Stored roots passed verification when they were uploaded; re-pin ignoring expiry so an
      // expired root still anchors the chain for the next rotation.
      const pinned = pinRoot({ bytes: new Uint8Array(row.envelope), now: new Date(0) });
      if (!pinned.ok) throw new Error(`stored root v${row.version} no longer verifies: ${pinned.reason}`);
      value = pinned.value.root;
    }
    cached = { at: Date.now(), value };
    return value;
  }

  return {
    current,

    async versions(): Promise<{ version: number; expiresAt: string; createdAt: string }[]> {
      const rows = await db.prisma.rootVersion.findMany({ orderBy: { version: 'asc' }, select: { version: true, expiresAt: true, createdAt: true } });
      return rows.map((r) => ({ version: r.version, expiresAt: r.expiresAt.toISOString(), createdAt: r.createdAt.toISOString() }));
    },

    async get(version: number): Promise<Uint8Array | null> {
      const row = await db.prisma.rootVersion.findUnique({ where: { version } });
      return row ? new Uint8Array(row.envelope) : null;
    },

    async upload(bytes: Uint8Array, now = new Date()): Promise<{ version: number; changed: boolean }> {
      const existing = await current();
      let next: TrustState;
      if (!existing) {
        const r = pinRoot({ bytes, now });
        if (!r.ok) throw refused({ code: 'root-refused', reason: r.reason, message: `root refused: ${r.detail}` });
        next = r.value;
      } else {
        const state: TrustState = { root: existing, manifests: {}, releases: {} };
        const r = updateRoot({ state, roots: [bytes], now });
        if (!r.ok) throw refused({ code: 'root-refused', reason: r.reason, message: `root refused: ${r.detail}` });
        next = r.value;
        if (next.root.document.version === existing.document.version) return { version: existing.document.version, changed: false };
      }
      const doc = next.root.document;
      await db.prisma.rootVersion.create({
        data: { version: doc.version, envelope: new Uint8Array(next.root.bytes), expiresAt: new Date(doc.expires) },
      });
      cached = undefined;
      return { version: doc.version, changed: true };
    },
  };
}
export type RootService = ReturnType<typeof createRootService>;
