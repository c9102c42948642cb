import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { utimes, writeFile } from 'node:fs/promises';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createDb, DatabaseInUseError, pgliteDir, type DbLogger } from './index.ts';
import { createTestDatabaseUrl, createTestDataDir, testDatabaseBaseUrl, testDbKinds, withTestDatabase } from './test-db.ts';

const quiet: DbLogger = { info() {}, warn() {}, error() {} };

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return port;
}

/** A TCP proxy to the test PostgreSQL that can start swallowing connections, as a hung server does. */
async function pgProxy() {
  const target = new URL(testDatabaseBaseUrl());
  const sockets = new Set<Socket>();
  let mode: 'forward' | 'blackhole' = 'forward';
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (mode === 'blackhole') return;
    const upstream = new Socket();
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.connect(Number(target.port || 5432), target.hostname, () => {
      client.pipe(upstream).pipe(client);
    });
  });
  const port = await listen(server);
  return {
    port,
    blackhole() {
      mode = 'blackhole';
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

for (const kind of testDbKinds()) {
  describe(`createDb on ${kind}`, () => {
    test('migrates, round-trips rows through Prisma, pings, closes', async () => {
      await withTestDatabase(kind, async ({ databaseUrl, dataDir }) => {
        const db = await createDb({ databaseUrl, dataDir, logger: quiet });
        try {
          assert.equal(db.kind, kind);
          await db.ping();
          const user = await db.prisma.user.create({ data: { username: 'alice', passwordHash: 'x', role: 'operator' } });
          await db.prisma.apiToken.create({ data: { name: 'ci', userId: user.id, tokenHash: 'h'.repeat(64), scopes: ['read', 'publish'] } });
          await db.prisma.module.create({ data: { sha256: 'ab'.repeat(32), name: 'libdemo.so', size: 2n ** 40n, platform: 'linux', arch: 'x86_64' } });
          await db.prisma.rootVersion.create({ data: { version: 1, envelope: new Uint8Array([1, 2, 3]), expiresAt: new Date('2030-01-01T00:00:00Z') } });

          const back = await db.prisma.user.findUniqueOrThrow({ where: { username: 'alice' }, include: { apiTokens: true } });
          assert.equal(back.id, user.id);
          assert.equal(back.role, 'operator');
          assert.deepEqual(back.apiTokens.map((t) => t.scopes), [['read', 'publish']]);
          assert.equal((await db.prisma.module.findFirstOrThrow()).size, 2n ** 40n);
          const root = await db.prisma.rootVersion.findFirstOrThrow();
          assert.deepEqual([...root.envelope], [1, 2, 3]);
          assert.equal(root.expiresAt.toISOString(), '2030-01-01T00:00:00.000Z');
          await db.prisma.$transaction(async (tx) => {
            await tx.user.update({ where: { id: user.id }, data: { disabledAt: new Date() } });
          });
          await db.prisma.user.delete({ where: { id: user.id } });
          assert.equal(await db.prisma.apiToken.count(), 0, 'tokens cascade with their user');
        } finally {
          await db.close();
        }
        await db.close(); // idempotent
        await assert.rejects(db.ping());

        // Reopening finds the data and has nothing left to migrate.
        const lines: string[] = [];
        const again = await createDb({ databaseUrl, dataDir, logger: { ...quiet, info: (_o, msg) => void lines.push(msg ?? '') } });
        try {
          assert.equal(await again.prisma.module.count(), 1);
          assert.ok(lines.includes('database schema is up to date'));
        } finally {
          await again.close();
        }
      });
    });
  });
}

if (testDbKinds().includes('pglite')) {
  describe('embedded PGlite data dir', () => {
    test('creates missing parent dirs, and refuses a second opener while in use', async () => {
      const tmp = await createTestDataDir();
      const dataDir = join(tmp.dir, 'not', 'yet', 'there');
      try {
        const db = await createDb({ dataDir, logger: quiet });
        try {
          await assert.rejects(createDb({ dataDir, logger: quiet }), (err: Error) => {
            assert.ok(err instanceof DatabaseInUseError);
            assert.match(err.message, /embedded database at .*pglite is in use by this process.*set DATABASE_URL/);
            return true;
          });
        } finally {
          await db.close();
        }
        // Closed: free again.
        await (await createDb({ dataDir, logger: quiet })).close();
      } finally {
        await tmp.remove();
      }
    });

    test('a lock held by another live process is refused; a dead owner\'s lock is taken over', async () => {
      const tmp = await createTestDataDir();
      const lockFile = `${pgliteDir(tmp.dir)}.lock`;
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        await writeFile(lockFile, JSON.stringify({ pid: other.pid, hostname: 'elsewhere' }));
        await assert.rejects(
          createDb({ dataDir: tmp.dir, logger: quiet }),
          new RegExp(`embedded database at .* is in use by another process \\(pid ${other.pid} on elsewhere.*set DATABASE_URL`),
        );
        other.kill();
        await new Promise((r) => other.once('exit', r));
        const db = await createDb({ dataDir: tmp.dir, logger: quiet });
        await db.close();

        // A garbage lock file: fresh, it may be one being written; old, it is ignored.
        await writeFile(lockFile, '');
        await assert.rejects(createDb({ dataDir: tmp.dir, logger: quiet }), /in use by another process \(it is taking lock file/);
        await utimes(lockFile, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
        await (await createDb({ dataDir: tmp.dir, logger: quiet })).close();
      } finally {
        other.kill();
        await tmp.remove();
      }
    });
  });
}

if (testDbKinds().includes('postgres')) {
  describe('unreachable PostgreSQL', () => {
    test('createDb fails fast and says where it tried', async () => {
      const port = await closedPort();
      const started = Date.now();
      await assert.rejects(
        createDb({ databaseUrl: `postgresql://postgres:secret@127.0.0.1:${port}/suture`, dataDir: '/nonexistent', logger: quiet }),
        (err: Error) => {
          assert.match(err.message, new RegExp(`cannot connect to PostgreSQL at postgresql://postgres:\\*\\*\\*@127.0.0.1:${port}/suture`));
          assert.doesNotMatch(err.message, /secret/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 3_000);
    });

    test('ping fails fast once the server stops answering', async () => {
      const target = await createTestDatabaseUrl();
      const proxy = await pgProxy();
      const url = new URL(target.url);
      url.host = `127.0.0.1:${proxy.port}`;
      const db = await createDb({ databaseUrl: url.toString(), dataDir: '/nonexistent', logger: quiet });
      try {
        await db.ping();
        proxy.blackhole(); // drops pooled connections; new ones hang unanswered
        // The first ping meets the dropped pooled connection; the next one hangs on connect.
        for (const expected of [/.+/, /PostgreSQL did not answer within 2000 ms/]) {
          const started = Date.now();
          await assert.rejects(db.ping(), expected);
          assert.ok(Date.now() - started < 3_000, `ping took ${Date.now() - started} ms`);
        }
      } finally {
        await db.close();
        await proxy.close();
        await target.drop();
      }
    });
  });
}
