import { signDocument, envelopeBytes, type KeyPair } from '@suture/shared/trust';
import { SPEC_VERSION, type ManifestDocument } from '@suture/shared/schemas';
import type { Db } from '../db/index.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { conflict } from '../lib/errors.ts';
import { createManifestIndex } from './manifest-index.ts';
import type { RootService } from './root.service.ts';

type Tx = Prisma.TransactionClient;

/**
 * Manifests are the online key's only job: per module, the list of live patch documents with
 * their length and sha256, with a short expiry. Every signing bumps the version, so agents
 * never see the same version with different bytes. Signed manifests are cached in the
 * database and re-signed when less than half their lifetime is left.
 */
export function createManifestService(deps: { db: Db; roots: RootService; onlineKey: KeyPair; ttlSeconds: number; refreshMs?: number }) {
  const { db, onlineKey, ttlSeconds } = deps;
  const index = createManifestIndex({ db, refreshMs: deps.refreshMs ?? 1_000 });

  async function signInTx(tx: Tx, moduleSha256: string, now: Date): Promise<Uint8Array> {
    const locked = await tx.$queryRaw<{ version: number }[]>`
      SELECT version FROM "Manifest" WHERE "moduleSha256" = ${moduleSha256} FOR UPDATE`;
    const patches = await tx.patch.findMany({
      where: { moduleSha256, withdrawnAt: null },
      orderBy: { id: 'asc' },
      select: { id: true, release: true, documentLength: true, documentSha256: true },
    });
    const version = (locked[0]?.version ?? 0) + 1;
    const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
    const doc: ManifestDocument = {
      type: 'manifest',
      specVersion: SPEC_VERSION,
      module: moduleSha256,
      version,
      expires: expiresAt.toISOString(),
      patches: patches.map((p) => ({ id: p.id, release: p.release, length: p.documentLength, sha256: p.documentSha256 })),
    };
    const envelope = envelopeBytes(signDocument('manifest', doc, [onlineKey]));
    await tx.manifest.upsert({
      where: { moduleSha256 },
      create: { moduleSha256, version, expiresAt, envelope },
      update: { version, expiresAt, envelope },
    });
    return envelope;
  }

  async function resign(moduleSha256: string, now = new Date()): Promise<Uint8Array> {
    const envelope = await db.prisma.$transaction((tx) => signInTx(tx, moduleSha256, now));
    index.invalidate();
    return envelope;
  }

  /** Agents would refuse manifests from a key the root does not name: say so instead. */
  async function assertOnlineKeyTrusted(): Promise<void> {
    const root = await deps.roots.current();
    const role = root?.document.roles.online;
    if (!root || !role?.keyids.includes(onlineKey.keyid))
      throw conflict(
        `the current root does not name this server's online key ${onlineKey.keyid}; ` +
          'add it with "suture root rotate --online <server online.pub>" and upload the new root',
        'online-key-not-in-root',
      );
  }

  /** Signed manifests for these modules, re-signed first where less than half the lifetime is left. */
  async function lookup(moduleSha256s: Iterable<string>): Promise<Map<string, Uint8Array>> {
    await index.ensureFresh();
    const now = new Date();
    const refreshBefore = now.getTime() + (ttlSeconds * 1000) / 2;
    const out = new Map<string, Uint8Array>();
    for (const sha of moduleSha256s) {
      const m = index.get(sha);
      if (!m) continue;
      out.set(sha, m.expiresAt.getTime() > refreshBefore ? m.envelope : await resign(sha, now));
    }
    return out;
  }

  return {
    signInTx,
    resign,
    assertOnlineKeyTrusted,
    /** Call after a transaction that used signInTx has committed. */
    changed: () => index.invalidate(),

    async get(moduleSha256: string): Promise<Uint8Array | null> {
      await assertOnlineKeyTrusted();
      return (await lookup([moduleSha256])).get(moduleSha256) ?? null;
    },

    /** Manifests for the modules an agent has loaded that have patches; the rest are absent. */
    async batch(moduleSha256s: string[]): Promise<Map<string, Uint8Array>> {
      await assertOnlineKeyTrusted();
      return lookup(new Set(moduleSha256s));
    },
  };
}
export type ManifestService = ReturnType<typeof createManifestService>;
