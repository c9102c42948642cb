import type { Db } from '../db/index.ts';
import { badRequest, conflict } from '../lib/errors.ts';
import { DUMMY_HASH, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from '../lib/passwords.ts';
import type { RoleName } from '../lib/permissions.ts';

export interface UserView {
  id: string;
  username: string;
  role: RoleName;
  createdAt: string;
  disabledAt: string | null;
}

type UserRow = { id: string; username: string; role: RoleName; createdAt: Date; disabledAt: Date | null };
const view = (u: UserRow): UserView => ({
  id: u.id,
  username: u.username,
  role: u.role,
  createdAt: u.createdAt.toISOString(),
  disabledAt: u.disabledAt?.toISOString() ?? null,
});

export function createUserService({ db }: { db: Db }) {
  async function create(opts: { username: string; password: string; role: RoleName }): Promise<UserView> {
    if (opts.password.length < MIN_PASSWORD_LENGTH)
      throw badRequest(`password must be at least ${MIN_PASSWORD_LENGTH} characters`, 'weak-password');
    const existing = await db.prisma.user.findUnique({ where: { username: opts.username } });
    if (existing) throw conflict(`user "${opts.username}" already exists`, 'user-exists');
    const user = await db.prisma.user.create({
      data: { username: opts.username, role: opts.role, passwordHash: await hashPassword(opts.password) },
    });
    return view(user);
  }

  return {
    create,

    /** Bootstrap: only while no admin exists, so it cannot be used to add a second one quietly. */
    async createFirstAdmin(opts: { username: string; password: string }): Promise<UserView> {
      const admins = await db.prisma.user.count({ where: { role: 'admin' } });
      if (admins > 0)
        throw conflict('an admin already exists; log in as that admin and create users with "suture user create"', 'admin-exists');
      return create({ ...opts, role: 'admin' });
    },

    async list(opts: { after?: string; limit: number }): Promise<UserView[]> {
      const rows = await db.prisma.user.findMany({
        orderBy: { username: 'asc' },
        take: opts.limit,
        ...(opts.after ? { where: { username: { gt: opts.after } } } : {}),
      });
      return rows.map(view);
    },

    async get(id: string): Promise<UserView | null> {
      const u = await db.prisma.user.findUnique({ where: { id } });
      return u ? view(u) : null;
    },

    /** Constant work whether or not the user exists. */
    async authenticate(opts: { username: string; password: string }): Promise<UserView | null> {
      const u = await db.prisma.user.findUnique({ where: { username: opts.username } });
      const ok = await verifyPassword(opts.password, u?.passwordHash ?? DUMMY_HASH);
      return u && ok && !u.disabledAt ? view(u) : null;
    },

    async disable(id: string): Promise<UserView> {
      return view(await db.prisma.user.update({ where: { id }, data: { disabledAt: new Date() } }));
    },
  };
}
export type UserService = ReturnType<typeof createUserService>;
