import { verifyPublishedPatch, envelopeBytes } from '@suture/shared/trust';
import type { Envelope } from '@suture/shared/schemas';
import { CanonicalError } from '@suture/shared/encoding';
import type { Db } from '../db/index.ts';
import { badRequest, conflict, notFound, refused } from '../lib/errors.ts';
import type { ManifestService } from './manifest.service.ts';
import type { RootService } from './root.service.ts';

export interface PatchView {
  id: string;
  moduleSha256: string;
  moduleName: string;
  title: string;
  severity: string;
  cves: string[];
  release: number;
  documentSha256: string;
  documentLength: number;
  publishedAt: string;
  withdrawnAt: string | null;
}

type PatchRow = Omit<PatchView, 'moduleName' | 'publishedAt' | 'withdrawnAt'> & {
  publishedAt: Date;
  withdrawnAt: Date | null;
  module: { name: string };
};
const view = (p: PatchRow): PatchView => ({
  id: p.id,
  moduleSha256: p.moduleSha256,
  moduleName: p.module.name,
  title: p.title,
  severity: p.severity,
  cves: p.cves,
  release: p.release,
  documentSha256: p.documentSha256,
  documentLength: p.documentLength,
  publishedAt: p.publishedAt.toISOString(),
  withdrawnAt: p.withdrawnAt?.toISOString() ?? null,
});
const include = { module: { select: { name: true } } } as const;

export function createPatchService(deps: { db: Db; roots: RootService; manifests: ManifestService }) {
  const { db } = deps;

  return {
    /**
     * Accepts a publisher-signed patch envelope. The stored and served bytes are the canonical
     * encoding of the envelope, and that is what manifests hash.
     */
    async publish(opts: { envelope: Envelope; publishedById: string }): Promise<{ patch: PatchView; created: boolean }> {
      const root = await deps.roots.current();
      if (!root) throw conflict('no root of trust has been uploaded yet: run "suture root publish <root.json>" first', 'no-root');
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = envelopeBytes(opts.envelope);
      } catch (err) {
        if (err instanceof CanonicalError) throw badRequest(`envelope cannot be encoded: ${err.message}`);
        throw err;
      }
      const verified = verifyPublishedPatch({ root: root.document, bytes });
      if (!verified.ok)
        throw refused({ code: 'patch-refused', reason: verified.reason, message: `patch refused (${verified.reason}): ${verified.detail}` });
      const doc = verified.value.document;
      const m = doc.module;

      const result = await db.prisma.$transaction(async (tx) => {
        const mod = await tx.module.findUnique({ where: { sha256: m.sha256 } });
        if (mod && (mod.size !== BigInt(m.size) || mod.platform !== m.platform || mod.arch !== m.arch || (mod.buildId ?? undefined) !== m.buildId))
          throw conflict(`module ${m.sha256} is already known with a different identity (size, platform, arch or build-id)`, 'module-identity-conflict');
        if (!mod)
          await tx.module.create({
            data: {
              sha256: m.sha256,
              name: m.name,
              size: BigInt(m.size),
              platform: m.platform,
              arch: m.arch,
              buildId: m.buildId ?? null,
              peTimeDateStamp: m.pe?.timeDateStamp ?? null,
              peSizeOfImage: m.pe?.sizeOfImage ?? null,
            },
          });
        const existing = await tx.patch.findUnique({ where: { id: doc.id }, include });
        if (existing) {
          if (existing.documentSha256 === verified.value.sha256) return { patch: view(existing), created: false };
          if (existing.moduleSha256 !== m.sha256)
            throw conflict(`patch id ${doc.id} is already used for module ${existing.moduleSha256}`, 'patch-id-taken');
          if (doc.release <= existing.release)
            throw conflict(
              `patch ${doc.id} release ${doc.release} is not newer than the published release ${existing.release}; bump "release"`,
              'release-not-newer',
            );
        }
        const data = {
          moduleSha256: m.sha256,
          title: doc.title,
          severity: doc.severity,
          cves: doc.cves,
          release: doc.release,
          documentSha256: verified.value.sha256,
          documentLength: bytes.length,
          envelope: bytes,
          publishedById: opts.publishedById,
          publishedAt: new Date(),
          withdrawnAt: null,
          withdrawnById: null,
        };
        const row = existing
          ? await tx.patch.update({ where: { id: doc.id }, data, include })
          : await tx.patch.create({ data: { id: doc.id, ...data }, include });
        await deps.manifests.signInTx(tx, m.sha256, new Date());
        return { patch: view(row), created: true };
      });
      deps.manifests.changed();
      return result;
    },

    async list(opts: { after?: string; limit: number; module?: string; includeWithdrawn: boolean; severities?: string[]; cve?: string }): Promise<PatchView[]> {
      const rows = await db.prisma.patch.findMany({
        where: {
          ...(opts.severities?.length ? { severity: { in: opts.severities } } : {}),
          ...(opts.cve ? { cves: { has: opts.cve } } : {}),
          ...(opts.after ? { id: { gt: opts.after } } : {}),
          ...(opts.module ? { moduleSha256: opts.module } : {}),
          ...(opts.includeWithdrawn ? {} : { withdrawnAt: null }),
        },
        orderBy: { id: 'asc' },
        take: opts.limit,
        include,
      });
      return rows.map(view);
    },

    async get(id: string): Promise<PatchView> {
      const row = await db.prisma.patch.findUnique({ where: { id }, include });
      if (!row) throw notFound(`no patch ${id}`);
      return view(row);
    },

    async envelope(id: string): Promise<Uint8Array> {
      const row = await db.prisma.patch.findUnique({ where: { id }, select: { envelope: true } });
      if (!row) throw notFound(`no patch ${id}`);
      return new Uint8Array(row.envelope);
    },

    /** Takes the patch out of its module's manifest at once; the document stays for the record. */
    async withdraw(opts: { id: string; byUserId: string }): Promise<PatchView> {
      const patch = await db.prisma.$transaction(async (tx) => {
        const row = await tx.patch.findUnique({ where: { id: opts.id }, include });
        if (!row) throw notFound(`no patch ${opts.id}`);
        if (row.withdrawnAt) return view(row);
        const updated = await tx.patch.update({
          where: { id: opts.id },
          data: { withdrawnAt: new Date(), withdrawnById: opts.byUserId },
          include,
        });
        await deps.manifests.signInTx(tx, row.moduleSha256, new Date());
        return view(updated);
      });
      deps.manifests.changed();
      return patch;
    },
  };
}
export type PatchService = ReturnType<typeof createPatchService>;
