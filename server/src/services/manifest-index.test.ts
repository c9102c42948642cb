import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createDb } from '../db/index.ts';
import { createTestDatabaseUrl, testDbKinds } from '../db/test-db.ts';
import { createManifestIndex } from './manifest-index.ts';

test('two replicas on one PostgreSQL: a change made through one reaches the other index within the refresh interval', async (t) => {
  if (!testDbKinds().includes('postgres')) return t.skip('SUTURE_TEST_DB excludes PostgreSQL, and replicas need a shared server');
  const pg = await createTestDatabaseUrl();
  const logger = pino({ level: 'silent' });
  const a = await createDb({ databaseUrl: pg.url, dataDir: '/nonexistent', logger });
  const b = await createDb({ databaseUrl: pg.url, dataDir: '/nonexistent', logger });
  try {
    const sha = 'ab'.repeat(32);
    await a.prisma.module.create({ data: { sha256: sha, name: 'x', size: 1n, platform: 'linux', arch: 'x86_64' } });
    const write = (version: number) =>
      a.prisma.manifest.upsert({
        where: { moduleSha256: sha },
        create: { moduleSha256: sha, version, expiresAt: new Date(Date.now() + 3600e3), envelope: new Uint8Array([version]) },
        update: { version, envelope: new Uint8Array([version]) },
      });
    const index = createManifestIndex({ db: b, refreshMs: 100 });
    await index.ensureFresh();
    assert.equal(index.get(sha), undefined);
    await write(1);
    await index.ensureFresh(); // still within the interval: not re-read yet
    await sleep(120);
    await index.ensureFresh();
    assert.equal(index.get(sha)?.version, 1);
    await write(2);
    index.invalidate(); // as after a change on the same replica
    await index.ensureFresh();
    assert.equal(index.get(sha)?.version, 2);
    assert.deepEqual([...index.get(sha)!.envelope], [2]);
    index.put(sha, { version: 1, expiresAt: new Date(), envelope: new Uint8Array([1]) });
    assert.equal(index.get(sha)?.version, 2, 'an older version never replaces a newer one');
  } finally {
    await a.close();
    await b.close();
    await pg.drop();
  }
});
