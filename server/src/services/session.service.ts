import jwt from 'jsonwebtoken';
import type { Db } from '../db/index.ts';
import { ROLE_PERMISSIONS, type Principal, type RoleName } from '../lib/permissions.ts';
import type { UserView } from './user.service.ts';

const AUDIENCE = 'suture-api';
const ISSUER = 'suture-server';

/** Short-lived HS256 session tokens for people. The user row is re-read on every request. */
export function createSessionService({ db, secret, ttlSeconds }: { db: Db; secret: string; ttlSeconds: number }) {
  return {
    issue(user: UserView): { token: string; expiresAt: string } {
      const token = jwt.sign({ typ: 'session' }, secret, {
        algorithm: 'HS256',
        subject: user.id,
        audience: AUDIENCE,
        issuer: ISSUER,
        expiresIn: ttlSeconds,
      });
      return { token, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
    },

    async authenticate(token: string): Promise<Principal | null> {
      let claims: jwt.JwtPayload;
      try {
        const decoded = jwt.verify(token, secret, { algorithms: ['HS256'], audience: AUDIENCE, issuer: ISSUER });
        if (typeof decoded === 'string' || decoded.typ !== 'session' || !decoded.sub) return null;
        claims = decoded;
      } catch {
        return null;
      }
      const user = await db.prisma.user.findUnique({ where: { id: claims.sub! } });
      if (!user || user.disabledAt) return null;
      const role = user.role as RoleName;
      return { userId: user.id, username: user.username, role, via: 'session', permissions: new Set(ROLE_PERMISSIONS[role]) };
    },
  };
}
export type SessionService = ReturnType<typeof createSessionService>;
