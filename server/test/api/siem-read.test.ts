/** The SIEM read API (events, live follow, coverage, CVE exposure, overview) on each database: a constructed fleet, real HTTP for the stream. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createSiemEventService, type EventFilter } from '../../src/services/siem-events.service.ts';
import { SETTLE_SECONDS } from '../../src/services/event-view.ts';
import { bearer, readSse, createUserAndLogin, dbKinds, expectError, patchDoc, signDocument, startTestServer, type TestServer } from '../helper.ts';

const MOD_A = 'a1'.repeat(32);
const MOD_B = 'b2'.repeat(32);
const CVE_SHARED = 'CVE-2026-10001';
const CVE_B = 'CVE-2026-10002';
const TYPES = ['applied', 'unapplied', 'refused', 'busy', 'failed', 'crash', 'adopted'] as const;
const N_EVENTS = 1234;
const RATE = 1000;

type Ev = { seq: string; id: string; type: string; agentId: string; hostname: string | null; group: string | null; patchId: string; cves: string[]; severity: string | null; pid: number; at: string; [k: string]: unknown };

/** Waits out the second after which stored events are listed (SETTLE_SECONDS). */
const settle = () => new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000 + 200));

for (const kind of dbKinds()) {
  describe(`SIEM read API (${kind})`, () => {
    let t: TestServer;
    let admin: string;
    let reader: string;
    let base: string;
    const ids: Record<string, string> = {};
    const patch: Record<string, string> = {};
    let all: Ev[] = [];

    const get = (url: string, token: string | null = reader) => t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: token ? bearer(token) : {} });
    const ok = async (url: string, token: string | null = reader) => {
      const res = await get(url, token);
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      return res.json();
    };
    /** Every page of a listing, following nextCursor. */
    const pages = async (url: string) => {
      const out: any[] = [];
      let after: string | null = null;
      for (let i = 0; i < 100; i++) {
        const body: { items: any[]; nextCursor: string | null } = await ok(`${url}${url.includes('?') ? '&' : '?'}${after ? `after=${encodeURIComponent(after)}` : ''}`);
        out.push(...body.items);
        after = body.nextCursor;
        if (!after) return out;
      }
      throw new Error('too many pages');
    };
    const agent = (o: { hostname: string; group: string; revoked?: boolean; lastSeenAt?: Date }) =>
      t.app.db.prisma.agent.create({ data: { hostname: o.hostname, os: 'linux', arch: 'x86_64', version: '0.1.0', groupName: o.group, credentialHash: randomBytes(16).toString('hex'), ...(o.revoked ? { revokedAt: new Date() } : {}), ...(o.lastSeenAt ? { lastSeenAt: o.lastSeenAt } : {}) } });

    before(async () => {
      t = await startTestServer(kind, { READ_RATE_LIMIT_PER_MINUTE: String(RATE) });
      ({ admin, base } = t);
      const { trust } = t;
      // A read-scoped API token: what a SIEM uses.
      const tok = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: bearer(admin), payload: { name: 'siem', scopes: ['read'] } });
      assert.equal(tok.statusCode, 201, tok.body);
      reader = tok.json().token;

      const publish = async (name: string, o: Parameters<typeof patchDoc>[0]) => {
        const doc = patchDoc(o);
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/patches', headers: bearer(admin), payload: signDocument('patch', doc, [trust.publisher]) });
        assert.equal(res.statusCode, 201, res.body);
        patch[name] = doc.id;
      };
      await publish('p1', { moduleSha256: MOD_A, cves: [CVE_SHARED], severity: 'high', title: 'p1 fix' });
      await publish('p2', { moduleSha256: MOD_B, cves: [CVE_B, CVE_SHARED], severity: 'critical', title: 'p2 fix' });
      await publish('p3', { moduleSha256: MOD_A, cves: ['CVE-2026-10003'], severity: 'low', title: 'p3 fix' });
      assert.equal((await t.app.inject({ method: 'POST', url: `/api/v1/patches/${patch.p3}/withdraw`, headers: bearer(admin) })).statusCode, 200);

      // The fleet: a1 protected by p1, a2 partly patched (vulnerable), a3 loads B without p2, a4 loads nothing, a5 revoked.
      const old = new Date(Date.now() - 3_600_000);
      const a1 = await agent({ hostname: 'web-1', group: 'web', lastSeenAt: new Date() });
      const a2 = await agent({ hostname: 'web-2', group: 'web', lastSeenAt: old });
      const a3 = await agent({ hostname: 'db-1', group: 'db' });
      const a4 = await agent({ hostname: 'db-2', group: 'db', lastSeenAt: old });
      const a5 = await agent({ hostname: 'gone-1', group: 'web', revoked: true });
      Object.assign(ids, { a1: a1.id, a2: a2.id, a3: a3.id, a4: a4.id, a5: a5.id });
      await t.app.db.prisma.agentModule.createMany({
        data: [
          { agentId: a1.id, sha256: MOD_A, name: 'libdemo.so', processes: 2 },
          { agentId: a2.id, sha256: MOD_A, name: 'libdemo.so', processes: 3 },
          { agentId: a3.id, sha256: MOD_B, name: 'libother.so', processes: 1 },
          { agentId: a5.id, sha256: MOD_A, name: 'libdemo.so', processes: 1 },
        ],
      });
      await t.app.db.prisma.agentPatch.createMany({
        data: [
          { agentId: a1.id, patchId: patch.p1!, matching: 2, applied: 2, refused: 0, failed: 0 },
          { agentId: a2.id, patchId: patch.p1!, matching: 3, applied: 1, refused: 1, failed: 1 },
        ],
      });

      // The event log: many events over the agents, patches, types and a range of times.
      const fleet = [a1, a2, a3, a4];
      const t0 = Date.parse('2026-11-01T00:00:00Z');
      const data = Array.from({ length: N_EVENTS }, (_, i) => ({
        eventId: randomUUID(),
        agentId: fleet[i % 4]!.id,
        type: TYPES[i % TYPES.length]!,
        patchId: i % 3 === 0 ? patch.p2! : patch.p1!,
        pid: BigInt(1000 + i),
        at: new Date(t0 + i * 60_000),
        ...(i % 5 === 0 ? { reason: 'traced', detail: 'another tracer holds the process' } : {}),
      }));
      // `at` is the agent's clock, seq the order of arrival: events out of order with the rest,
      // stored first (a clock ahead) and last (late reports), some on the edges of the windows below.
      const odd = (at: string, i: number) => ({ eventId: randomUUID(), agentId: fleet[i % 4]!.id, type: TYPES[i % TYPES.length]!, patchId: patch.p1!, pid: BigInt(90 + i), reason: 'traced', detail: 'another tracer holds the process', at: new Date(at) });
      await t.app.db.prisma.agentEvent.createMany({ data: ['2026-11-01T05:30:00Z', '2026-11-01T10:00:00.000Z', '2026-12-01T00:00:00Z', '2026-11-01T05:59:59.999Z'].map(odd) });
      for (let i = 0; i < data.length; i += 500) await t.app.db.prisma.agentEvent.createMany({ data: data.slice(i, i + 500) });
      await t.app.db.prisma.agentEvent.createMany({ data: ['2026-11-01T05:00:00.000Z', '2026-11-01T05:59:59.999Z', '2026-10-01T00:00:00Z', '2026-11-01T06:00:00.000Z', '2026-11-01T09:59:59.999Z'].map(odd) });
      const rows = await t.app.db.prisma.agentEvent.findMany({ orderBy: { seq: 'asc' }, include: { agent: true } });
      const pById = Object.fromEntries((await t.app.db.prisma.patch.findMany()).map((p) => [p.id, p]));
      all = rows.map((r) => ({ seq: r.seq.toString(), id: r.eventId, type: r.type, agentId: r.agentId, hostname: r.agent.hostname, group: r.agent.groupName, patchId: r.patchId, cves: pById[r.patchId]!.cves, severity: pById[r.patchId]!.severity, pid: Number(r.pid), at: r.at.toISOString() }));

      await settle(); // events are listed once stored for a second
    });
    after(async () => t?.close());

    const seqs = (items: { seq: string }[]) => items.map((e) => e.seq);

    test('paging the whole event log with the cursor returns every event exactly once, in seq order, with its agent and patch context', async () => {
      const first = await ok('/events?limit=500');
      assert.equal(first.items.length, 500);
      assert.equal(first.nextCursor, first.items[499].seq);
      const got = await pages('/events?limit=500');
      assert.deepEqual(seqs(got), seqs(all));
      assert.equal(new Set(seqs(got)).size, N_EVENTS + 9);
      const byDefault = await pages('/events');
      assert.deepEqual(seqs(byDefault), seqs(all), 'default page size (100) pages the same');
      assert.equal((await ok('/events')).items.length, 100);
      const e = got[0];
      const want = all[0]!;
      assert.deepEqual(
        { seq: e.seq, id: e.id, type: e.type, agentId: e.agentId, hostname: e.hostname, group: e.group, patchId: e.patchId, cves: e.cves, severity: e.severity, pid: e.pid, at: e.at },
        { seq: want.seq, id: want.id, type: want.type, agentId: want.agentId, hostname: want.hostname, group: want.group, patchId: want.patchId, cves: want.cves, severity: want.severity, pid: want.pid, at: want.at },
      );
      assert.deepEqual(Object.keys(e).sort(), ['agentId', 'at', 'commandId', 'cves', 'detail', 'group', 'hostname', 'id', 'patchId', 'pid', 'reason', 'receivedAt', 'seq', 'severity', 'type']);
      assert.equal(e.reason, 'traced');
      // At the end: an empty page, and a poll from the last seq finds nothing new.
      const last = await ok(`/events?after=${all.at(-1)!.seq}`);
      assert.deepEqual(last, { items: [], nextCursor: null });
    });

    test('each filter, alone and with the cursor, returns exactly the matching events', async () => {
      const cases: [string, (e: Ev) => boolean][] = [
        ['type=crash', (e) => e.type === 'crash'],
        ['type=applied,refused', (e) => e.type === 'applied' || e.type === 'refused'],
        [`agentId=${ids.a2}`, (e) => e.agentId === ids.a2],
        [`patchId=${patch.p2}`, (e) => e.patchId === patch.p2],
        [`cve=${CVE_B}`, (e) => e.patchId === patch.p2],
        [`cve=${CVE_SHARED}`, () => true],
        ['cve=CVE-2026-99999', () => false],
        ['severity=critical', (e) => e.severity === 'critical'],
        ['severity=high,low', (e) => e.severity === 'high'],
        ['group=db', (e) => e.group === 'db'],
        ['since=2026-11-01T10:00:00Z', (e) => e.at >= '2026-11-01T10:00:00.000Z'],
        ['until=2026-11-01T10:00:00Z', (e) => e.at < '2026-11-01T10:00:00.000Z'],
        ['since=2026-11-01T05:00:00Z&until=2026-11-01T06:00:00Z', (e) => e.at >= '2026-11-01T05:00:00.000Z' && e.at < '2026-11-01T06:00:00.000Z'],
        [`type=failed&group=web&patchId=${patch.p1}`, (e) => e.type === 'failed' && e.group === 'web' && e.patchId === patch.p1],
      ];
      for (const [q, match] of cases) {
        const want = seqs(all.filter(match));
        assert.deepEqual(seqs(await pages(`/events?${q}&limit=37`)), want, q);
      }
      assert.equal((await pages('/events?since=2026-11-01T05:00:00Z&until=2026-11-01T06:00:00Z&limit=500')).length, 60 + 4, 'one event a minute and 4 out of order: the range is half-open');
    });

    test('time windows: events out of seq order, on the edges too, whichever scan bounds the seq range', async () => {
      const windows: [EventFilter, (e: Ev) => boolean][] = [
        [{ since: new Date('2026-11-01T05:00:00Z'), until: new Date('2026-11-01T06:00:00Z') }, (e) => e.at >= '2026-11-01T05:00:00.000Z' && e.at < '2026-11-01T06:00:00.000Z'],
        [{ since: new Date('2026-11-01T10:00:00Z') }, (e) => e.at >= '2026-11-01T10:00:00.000Z'],
        [{ until: new Date('2026-11-01T10:00:00Z') }, (e) => e.at < '2026-11-01T10:00:00.000Z'],
        [{ since: new Date('2026-11-01T00:00:00Z') }, (e) => e.at >= '2026-11-01T00:00:00.000Z'],
        [{ since: new Date('2026-11-30T00:00:00Z'), until: new Date('2026-12-02T00:00:00Z') }, (e) => e.at >= '2026-11-30T00:00:00.000Z' && e.at < '2026-12-02T00:00:00.000Z'],
        [{ since: new Date('2027-01-01T00:00:00Z') }, () => false],
        [{ since: new Date('2026-11-01T05:00:00Z'), until: new Date('2026-11-01T06:00:00Z'), types: ['crash', 'applied'] }, (e) => e.at >= '2026-11-01T05:00:00.000Z' && e.at < '2026-11-01T06:00:00.000Z' && (e.type === 'crash' || e.type === 'applied')],
      ];
      // windowScan 100,000: every window is bounded by its own min/max; 2: a window larger than
      // that with one event outside is walked unbounded; 1: the whole window's min/max.
      for (const windowScan of [100_000, 2, 1]) {
        const svc = createSiemEventService({ db: t.app.db, windowScan });
        for (const [filter, match] of windows) {
          const got: string[] = [];
          for (let afterSeq: bigint | undefined, n = 0; n < 100; n++) {
            const page = await svc.list({ filter, ...(afterSeq !== undefined ? { afterSeq } : {}), limit: 37 });
            got.push(...seqs(page));
            if (page.length < 37) break;
            afterSeq = BigInt(page.at(-1)!.seq);
          }
          assert.deepEqual(got, seqs(all.filter(match)), `${JSON.stringify(filter)}, windowScan ${windowScan}`);
        }
      }
    });

    test('bad queries are refused with 400 and say what is wrong', async () => {
      const bad: [string, RegExp][] = [
        ['/events?limit=501', /limit/],
        ['/events?limit=0', /limit/],
        ['/events?after=abc', /after/],
        ['/events?type=exploded', /type/],
        ['/events?cve=CVE-26-1', /cve/],
        ['/events?severity=urgent', /severity/],
        ['/events?since=yesterday', /since/],
        ['/events?agentId=not-a-uuid', /agentId/],
        ['/events?bogus=1', /bogus|additional/],
        ['/events?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z', /since must be before until/],
        ['/events/follow?type=nope', /type/],
        ['/coverage?severity=urgent', /severity/],
        ['/coverage?limit=1000', /limit/],
        ['/coverage/history?after=yesterday', /after/],
        ['/cves/not-a-cve/vulnerable', /cve/],
        ['/cves/CVE-2026-10001/vulnerable?after=x', /after/],
        ['/agents?lastSeenBefore=soon', /lastSeenBefore/],
        ['/patches?cve=CVE-1', /cve/],
        ['/patches?whatever=1', /whatever|additional/],
      ];
      for (const [url, why] of bad) {
        const e = expectError(await get(url), 400);
        assert.match(`${e.message} ${JSON.stringify((e as { details?: unknown }).details ?? '')}`, why, url);
      }
    });

    test('every read endpoint needs authentication; a read-only token reads them all and cannot write', async () => {
      for (const url of ['/events', '/events/follow', '/coverage', '/coverage/history', `/cves/${CVE_SHARED}/vulnerable`, '/overview', '/agents', '/patches']) {
        expectError(await get(url, null), 401);
        expectError(await t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: bearer('sut_not-a-real-token-at-all') }), 401);
      }
      for (const url of ['/events?limit=1', '/coverage', '/coverage/history', `/cves/${CVE_SHARED}/vulnerable`, '/overview', '/agents', '/patches']) await ok(url);
      expectError(await t.app.inject({ method: 'POST', url: `/api/v1/patches/${patch.p1}/withdraw`, headers: bearer(reader) }), 403);
      expectError(await t.app.inject({ method: 'PUT', url: `/api/v1/patches/${patch.p1}/groups/web`, headers: bearer(reader) }), 403);
      const auditor = (await createUserAndLogin(t.app, { username: 'audrey', role: 'auditor' })).token;
      await ok('/overview', auditor);
    });

    test('coverage per patch counts applied, vulnerable and not applicable agents of the fleet; filters and paging', async () => {
      const cov = await ok('/coverage');
      assert.equal(cov.nextCursor, null);
      const by = Object.fromEntries(cov.items.map((c: { patchId: string }) => [c.patchId, c]));
      assert.deepEqual(Object.keys(by).sort(), [patch.p1, patch.p2].sort(), 'published patches only');
      assert.deepEqual(by[patch.p1!], { patchId: patch.p1, title: 'p1 fix', cves: [CVE_SHARED], severity: 'high', status: 'published', applied: 1, vulnerable: 1, notApplicable: 2, agents: 4 });
      assert.deepEqual(by[patch.p2!], { patchId: patch.p2, title: 'p2 fix', cves: [CVE_B, CVE_SHARED], severity: 'critical', status: 'published', applied: 0, vulnerable: 1, notApplicable: 3, agents: 4 });
      const withdrawn = (await ok('/coverage?includeWithdrawn=true')).items.find((c: { patchId: string }) => c.patchId === patch.p3);
      assert.equal(withdrawn.status, 'withdrawn');
      assert.equal(withdrawn.vulnerable, 2, 'a1 and a2 load its module and have it nowhere');
      assert.deepEqual((await ok(`/coverage?patch=${patch.p3}`)).items.map((c: { status: string }) => c.status), ['withdrawn'], 'a named patch shows either way');
      assert.deepEqual((await ok('/coverage?severity=critical')).items.map((c: { patchId: string }) => c.patchId), [patch.p2]);
      assert.deepEqual((await ok(`/coverage?cve=${CVE_B}`)).items.map((c: { patchId: string }) => c.patchId), [patch.p2]);
      assert.equal((await ok(`/coverage?cve=${CVE_SHARED}`)).items.length, 2);
      const one = await ok('/coverage?limit=1');
      assert.equal(one.items.length, 1);
      assert.deepEqual((await pages('/coverage?limit=1')).map((c) => c.patchId), cov.items.map((c: { patchId: string }) => c.patchId));
    });

    test('the endpoints exposed to a CVE: agents loading a fixed module without the fix, per patch, paged', async () => {
      const items = await pages(`/cves/${CVE_SHARED}/vulnerable?limit=1`);
      const want = [
        { agentId: ids.a2, hostname: 'web-2', group: 'web', os: 'linux', online: false, patchId: patch.p1, moduleSha256: MOD_A, moduleName: 'libdemo.so', processes: 3, applied: 1 },
        { agentId: ids.a3, hostname: 'db-1', group: 'db', os: 'linux', online: false, patchId: patch.p2, moduleSha256: MOD_B, moduleName: 'libother.so', processes: 1, applied: 0 },
      ].sort((x, y) => x.agentId!.localeCompare(y.agentId!));
      assert.deepEqual(items, want);
      assert.deepEqual((await ok(`/cves/${CVE_B}/vulnerable`)).items.map((v: { agentId: string }) => v.agentId), [ids.a3]);
      assert.deepEqual(await ok('/cves/CVE-2026-10003/vulnerable'), { items: [], nextCursor: null }, 'a withdrawn patch no longer counts');
      assert.deepEqual(await ok('/cves/CVE-2020-0001/vulnerable'), { items: [], nextCursor: null });
    });

    test('the overview: agents, patches, coverage summed over published patches, exposed endpoints, the latest events, the sampling period', async () => {
      const o = await ok('/overview');
      assert.deepEqual(o.agents, { total: 5, online: 0, offline: 4, revoked: 1 });
      assert.deepEqual(o.patches, { published: 2, withdrawn: 1 });
      assert.deepEqual(o.coverage, { applied: 1, vulnerable: 2, notApplicable: 5 });
      assert.equal(o.vulnerableEndpoints, 2);
      assert.equal(o.recentEvents.length, 30);
      assert.deepEqual(seqs(o.recentEvents), seqs(all.slice(-30)).reverse(), 'newest first');
      assert.equal(o.coverageSampleSeconds, 300, 'COVERAGE_SAMPLE_SECONDS (its default here)');
    });

    test('coverage history: one sample per period whatever the number of replicas, per patch or fleet totals, time range and paging', async () => {
      const h0 = Date.parse('2026-10-01T00:00:00Z');
      const buckets = [0, 1, 2].map((i) => new Date(h0 + i * 300_000));
      for (const b of buckets) {
        assert.equal(await t.app.services.coverage.sample(b), 2, 'one row per published patch');
        assert.equal(await t.app.services.coverage.sample(b), 0, 'a second replica in the same period adds nothing');
      }
      await Promise.all([t.app.services.coverage.sample(new Date(h0 + 900_000)), t.app.services.coverage.sample(new Date(h0 + 900_000))]);
      assert.equal(await t.app.db.prisma.coverageSnapshot.count({ where: { at: new Date(h0 + 900_000) } }), 2, 'concurrent samplers: still one sample');
      const range = 'since=2026-10-01T00:00:00Z&until=2026-10-02T00:00:00Z';
      const p1 = await pages(`/coverage/history?patch=${patch.p1}&${range}&limit=3`);
      assert.deepEqual(p1.map((p) => p.at), [0, 1, 2, 3].map((i) => new Date(h0 + i * 300_000).toISOString()));
      assert.deepEqual(p1[0], { at: new Date(h0).toISOString(), patchId: patch.p1, applied: 1, vulnerable: 1, notApplicable: 2 });
      const fleet = await ok(`/coverage/history?${range}`);
      assert.equal(fleet.items.length, 4);
      assert.deepEqual(fleet.items[0], { at: new Date(h0).toISOString(), patchId: null, applied: 1, vulnerable: 2, notApplicable: 5 });
      const later = await ok(`/coverage/history?since=2026-10-01T00:10:00Z&until=2026-10-01T00:15:00Z`);
      assert.deepEqual(later.items.map((p: { at: string }) => p.at), [new Date(h0 + 600_000).toISOString()]);
    });

    test('agents filter by last seen (with group, os, status), patches by severity and CVE', async () => {
      const cut = new Date(Date.now() - 60_000).toISOString();
      const listed = async (q: string) => ((await pages(`/agents?${q}`)) as { id: string }[]).map((a) => a.id).sort();
      assert.deepEqual(await listed(`lastSeenAfter=${cut}`), [ids.a1].sort());
      assert.deepEqual(await listed(`lastSeenBefore=${cut}`), [ids.a2, ids.a3, ids.a4, ids.a5].sort(), 'never seen counts as before');
      assert.deepEqual(await listed(`lastSeenBefore=${cut}&group=db`), [ids.a3, ids.a4].sort());
      assert.deepEqual(await listed(`lastSeenBefore=${cut}&status=offline&os=linux&group=web`), [ids.a2]);
      assert.deepEqual(await listed(`lastSeenAfter=${new Date(Date.now() - 7_200_000).toISOString()}&lastSeenBefore=${cut}`), [ids.a2, ids.a4].sort());
      assert.equal((await ok('/agents?limit=2')).items.length, 2);
      assert.equal((await pages('/agents?limit=2')).length, 5);
      const pl = async (q: string) => ((await ok(`/patches?${q}`)).items as { id: string }[]).map((p) => p.id).sort();
      assert.deepEqual(await pl('severity=critical'), [patch.p2]);
      assert.deepEqual(await pl('severity=high,critical'), [patch.p1, patch.p2].sort());
      assert.deepEqual(await pl(`cve=${CVE_SHARED}`), [patch.p1, patch.p2].sort());
      assert.deepEqual(await pl('cve=CVE-2026-10003'), [], 'withdrawn patches stay out unless asked');
      assert.deepEqual(await pl('cve=CVE-2026-10003&includeWithdrawn=true'), [patch.p3]);
    });

    test('an event is listed only once it has been stored for a second (a transaction still open could commit a lower seq): not at once, then exactly once', async () => {
      const last = all.at(-1)!.seq;
      const id = randomUUID();
      await t.app.services.ingest.events(ids.a1!, [{ id, type: 'busy', patchId: patch.p1!, pid: 4343, at: new Date().toISOString() } as never]);
      assert.deepEqual((await ok(`/events?after=${last}`)).items, [], 'not listed the moment it is stored');
      await settle();
      const now = (await ok(`/events?after=${last}`)).items as Ev[];
      assert.deepEqual(now.map((e) => e.id), [id]);
      all.push(now[0]!);
    });

    test('following events live: an event stored after connecting arrives (filtered); resuming from a seq sends what came after it; the stream closes cleanly', async () => {
      const ac = new AbortController();
      const res = await fetch(`${base}/api/v1/events/follow?patchId=${patch.p1}`, { headers: { ...bearer(reader), accept: 'text/event-stream' }, signal: ac.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const store = (patchId: string, type: string) => t.app.services.ingest.events(ids.a1!, [{ id: randomUUID(), type, patchId, pid: 4242, at: new Date().toISOString() } as never]);
      const seen = readSse(res, (s) => s.length >= 1);
      await new Promise((r) => setTimeout(r, 300));
      await store(patch.p2!, 'applied'); // filtered out
      await store(patch.p1!, 'crash');
      const got = await seen;
      ac.abort();
      assert.equal(got.length, 1);
      assert.equal(got[0]!.event, 'event');
      assert.equal(got[0]!.data.patchId, patch.p1);
      assert.equal(got[0]!.data.type, 'crash');
      assert.equal(got[0]!.data.hostname, 'web-1');
      assert.equal(got[0]!.id, got[0]!.data.seq);
      // Resume from an older seq (query or Last-Event-ID): the backlog comes first, in order.
      const from = all.at(-3)!.seq;
      const res2 = await fetch(`${base}/api/v1/events/follow`, { headers: { ...bearer(reader), 'last-event-id': from } });
      const backlog = await readSse(res2, (s) => s.length >= 4);
      assert.deepEqual(backlog.map((e) => e.data.seq).slice(0, 2), seqs(all.slice(-2)));
      assert.equal(backlog[3]!.data.seq, got[0]!.data.seq);
      expectError(await get('/events/follow?after=x'), 400);
    });

    test('reads are rate limited per principal: 429 with Retry-After and the error body; others are not affected', async () => {
      const tok = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: bearer(admin), payload: { name: 'busy', scopes: ['read'] } });
      const busy = tok.json().token as string;
      let last;
      for (let i = 0; i <= RATE; i++) last = await get('/coverage/history?limit=1', busy);
      const e = expectError(last!, 429, 'rate-limited');
      assert.match(e.message, /retry in \d+ s/);
      const retry = Number(last!.headers['retry-after']);
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${last!.headers['retry-after']}`);
      expectError(await get('/events?limit=1', busy), 429);
      await ok('/coverage/history?limit=1', admin); // another principal still reads
    });

    test('the OpenAPI document lists every /api/v1 route with its response schemas', async () => {
      const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
      // Every route the server has, from its router (labels along the tree concatenate to the path).
      const routes: { method: string; path: string }[] = [];
      const stack: string[] = [];
      for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
        const m = /^([│├└─\s]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line);
        if (!m) continue;
        const depth = m[1]!.length / 4;
        stack.length = depth;
        stack.push(m[2]!);
        const path = stack.join('');
        for (const method of m[3]!.split(', ')) if (method !== 'HEAD' && path.startsWith('/api/v1/')) routes.push({ method, path });
      }
      assert.ok(routes.some((r) => r.path === '/api/v1/events' && r.method === 'GET'), 'the route list is read');
      assert.ok(routes.length > 40, `${routes.length} routes`);
      const missing: string[] = [];
      for (const r of routes) {
        if (r.path === '/api/v1/agents/socket') continue; // the agents' WebSocket: its protocol is in @suture/shared/protocol
        const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
        if (!op) {
          missing.push(`${r.method} ${r.path}: not in the document`);
          continue;
        }
        const ok2xx = Object.entries(op.responses ?? {}).filter(([code]) => /^2/.test(code));
        if (ok2xx.length === 0) missing.push(`${r.method} ${r.path}: no success response`);
        for (const [code, resp] of ok2xx) if (code !== '204' && !(resp as { content?: unknown }).content) missing.push(`${r.method} ${r.path}: ${code} has no schema`);
        if (r.method === 'GET' && !op.responses?.['401'] && op.security?.length !== 0) missing.push(`${r.method} ${r.path}: 401 not documented`);
      }
      assert.deepEqual(missing, []);
      const ev = doc.paths['/api/v1/events'].get.responses['200'].content['application/json'].schema.properties.items.items;
      assert.deepEqual(Object.keys(ev.properties).sort(), ['agentId', 'at', 'commandId', 'cves', 'detail', 'group', 'hostname', 'id', 'patchId', 'pid', 'reason', 'receivedAt', 'seq', 'severity', 'type']);
      assert.match(ev.description, /stable/);
    });
  });
}
