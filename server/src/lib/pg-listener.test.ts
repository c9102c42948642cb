/** The listener on the embedded database (the reconnects on real PostgreSQL: test/api/replicas.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import pino from 'pino';
import { pgliteNotifications } from '../db/notifications.ts';
import { createPgListener } from './pg-listener.ts';

test('PGlite: a NOTIFY (also from inside a transaction, after it commits) reaches the listener; the resync runs on connect; stop ends it', async () => {
  const db = await PGlite.create();
  const notifications = pgliteNotifications(db);
  const got: string[] = [];
  let resyncs = 0;
  const listener = createPgListener({ notifications, channel: 'suture_test', onPayload: (p) => got.push(p), onConnected: async () => void resyncs++, log: pino({ level: 'silent' }) });
  try {
    await listener.start();
    assert.equal(listener.listening, true);
    assert.equal(listener.connects, 1);
    assert.equal(resyncs, 1);
    await notifications.notify('suture_test', '{"t":"one"}');
    await db.transaction(async (tx) => {
      await tx.query("SELECT pg_notify('suture_test', 'two')");
      assert.deepEqual(got, ['{"t":"one"}'], 'nothing before the commit');
    });
    await notifications.notify('other_channel', 'not ours');
    await sleep(20);
    assert.deepEqual(got, ['{"t":"one"}', 'two']);
    await assert.rejects(notifications.notify('Bad-Name', 'x'), /bad channel name/);
    await listener.stop();
    assert.equal(listener.listening, false);
    await notifications.notify('suture_test', 'after stop');
    await sleep(20);
    assert.equal(got.length, 2);
  } finally {
    await listener.stop();
    await db.close();
  }
});
