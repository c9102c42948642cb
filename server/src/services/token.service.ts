import { randomBytes } from 'node:crypto';
import { sha256Hex } from '@suture/shared/encoding';
import type { Db } from '../db/index.ts';
import { forbidden, notFound } from '../lib/errors.ts';
import { ROLE_PERMISSIONS, type Permission, type Principal, type RoleName } from '../lib/permissions.ts';

export const TOKEN_PREFIX = 'sut_';

export interface TokenView {
  id: string;
  name: string;
  userId: string;
  scopes: Permission[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

type TokenRow = {
  id: string;
  name: string;
  userId: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
};
const iso = (d: Date | null) => d?.toISOString() ?? null;
const view = (t: TokenRow): TokenView => ({
  id: t.id,
  name: t.name,
  userId: t.userId,
  scopes: t.scopes as Permission[],
  createdAt: t.createdAt.toISOString(),
  expiresAt: iso(t.expiresAt),
  revokedAt: iso(t.revokedAt),
  lastUsedAt: iso(t.lastUsedAt),
});

const LAST_USED_EVERY_MS = 60_000;
/**
 * Verified tokens are remembered briefly so machine clients (agents' manifest lookups, SIEM
 * polling) do not cost a database round trip per request. Revoking or disabling on this replica
 * clears the cache at once; other replicas notice within CACHE_MS.
 */
const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

/** API tokens for machines. Only sha256(secret) is stored; the secret is shown once. */
export function createTokenService({ db }: { db: Db }) {
  const cache = new Map<string, { principal: Principal; until: number }>();
  return {
    /** Forget every cached token (after a revocation or a user change). */
    invalidate(): void {
      cache.clear();
    },

    async create(opts: { owner: Principal; name: string; scopes: Permission[]; expiresInDays?: number }) {
      // A caller cannot grant more than it has (a token minting tokens is limited to its scopes).
      const excess = opts.scopes.filter((s) => !opts.owner.permissions.has(s));
      if (excess.length) throw forbidden(`${opts.owner.username} cannot grant scope(s): ${excess.join(', ')}`);
      const secret = TOKEN_PREFIX + randomBytes(32).toString('base64url');
      const row = await db.prisma.apiToken.create({
        data: {
          name: opts.name,
          userId: opts.owner.userId,
          scopes: [...new Set(opts.scopes)],
          tokenHash: sha256Hex(secret),
          expiresAt: opts.expiresInDays ? new Date(Date.now() + opts.expiresInDays * 86_400_000) : null,
        },
      });
      return { ...view(row), token: secret };
    },

    /** Admins see every token, others their own. */
    async list(opts: { viewer: Principal }): Promise<TokenView[]> {
      const rows = await db.prisma.apiToken.findMany({
        where: opts.viewer.permissions.has('admin') ? {} : { userId: opts.viewer.userId },
        orderBy: { createdAt: 'desc' },
        take: 1000,
      });
      return rows.map(view);
    },

    async revoke(opts: { viewer: Principal; id: string }): Promise<TokenView> {
      const row = await db.prisma.apiToken.findUnique({ where: { id: opts.id } });
      if (!row || (row.userId !== opts.viewer.userId && !opts.viewer.permissions.has('admin')))
        throw notFound(`no API token ${opts.id}`);
      cache.clear();
      if (row.revokedAt) return view(row);
      return view(await db.prisma.apiToken.update({ where: { id: row.id }, data: { revokedAt: new Date() } }));
    },

    /** Effective scopes = token scopes that the owner's current role still allows. */
    async authenticate(secret: string): Promise<Principal | null> {
      if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 128) return null;
      const hash = sha256Hex(secret);
      const hit = cache.get(hash);
      if (hit && hit.until > Date.now()) return hit.principal;
      const row = await db.prisma.apiToken.findUnique({ where: { tokenHash: hash }, include: { user: true } });
      const now = new Date();
      if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now) || row.user.disabledAt) return null;
      if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_EVERY_MS) {
        await db.prisma.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
      }
      const role = row.user.role as RoleName;
      const allowed = new Set(ROLE_PERMISSIONS[role]);
      const principal: Principal = {
        userId: row.userId,
        username: row.user.username,
        role,
        via: 'token',
        tokenId: row.id,
        permissions: new Set((row.scopes as Permission[]).filter((s) => allowed.has(s))),
      };
      if (cache.size >= CACHE_MAX) cache.clear();
      // Never cache past the token's own expiry.
      cache.set(hash, { principal, until: Math.min(Date.now() + CACHE_MS, row.expiresAt?.getTime() ?? Infinity) });
      return principal;
    },
  };
}
export type TokenService = ReturnType<typeof createTokenService>;
