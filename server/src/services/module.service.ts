import type { Db } from '../db/index.ts';
import { notFound } from '../lib/errors.ts';

export interface ModuleView {
  sha256: string;
  name: string;
  size: number;
  platform: string;
  arch: string;
  buildId: string | null;
  pe: { timeDateStamp: number; sizeOfImage: number } | null;
  activePatches: number;
  createdAt: string;
}

type ModuleRow = {
  sha256: string;
  name: string;
  size: bigint;
  platform: string;
  arch: string;
  buildId: string | null;
  peTimeDateStamp: number | null;
  peSizeOfImage: number | null;
  createdAt: Date;
  _count: { patches: number };
};
const view = (m: ModuleRow): ModuleView => ({
  sha256: m.sha256,
  name: m.name,
  size: Number(m.size),
  platform: m.platform,
  arch: m.arch,
  buildId: m.buildId,
  pe: m.peTimeDateStamp !== null && m.peSizeOfImage !== null ? { timeDateStamp: m.peTimeDateStamp, sizeOfImage: m.peSizeOfImage } : null,
  activePatches: m._count.patches,
  createdAt: m.createdAt.toISOString(),
});
const withCount = { _count: { select: { patches: { where: { withdrawnAt: null } } } } } as const;

/** The catalog of modules that patches have been published for. */
export function createModuleService({ db }: { db: Db }) {
  return {
    async list(opts: { after?: string; limit: number; platform?: string; name?: string }): Promise<ModuleView[]> {
      const rows = await db.prisma.module.findMany({
        where: {
          ...(opts.after ? { sha256: { gt: opts.after } } : {}),
          ...(opts.platform ? { platform: opts.platform } : {}),
          ...(opts.name ? { name: opts.name } : {}),
        },
        orderBy: { sha256: 'asc' },
        take: opts.limit,
        include: withCount,
      });
      return rows.map(view);
    },
    async get(sha256: string): Promise<ModuleView> {
      const row = await db.prisma.module.findUnique({ where: { sha256 }, include: withCount });
      if (!row) throw notFound(`no module ${sha256} in the catalog`);
      return view(row);
    },
  };
}
export type ModuleService = ReturnType<typeof createModuleService>;
