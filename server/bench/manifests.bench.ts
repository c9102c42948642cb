/**
 * pnpm bench:manifests — batch manifest lookup under a real HTTP load generator (autocannon).
 *
 * Seeds a catalog of 10,000 patched modules (each with a signed patch and an online-signed
 * manifest), starts the real server as a child process, and sends batch lookups of 500-module
 * inventories (50 patched, 450 not). Prints p50/p99 at a fixed 200 req/s, the maximum
 * requests/s, and the signature verifications per second of the agent's verify path.
 * The last line is one JSON object. Uses the local PostgreSQL (a fresh database) when
 * BENCH_DATABASE_URL or the default server is reachable, else the embedded PGlite.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, randomBytes, sign as edSign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pino from 'pino';
import { canonicalBytes, fromHex, sha256Hex, toBase64 } from '@suture/shared/encoding';
import { PayloadTypes, SPEC_VERSION, type DocumentKind } from '@suture/shared/schemas';
import { generateKeyPair, pae, pinRoot, signDocument, envelopeBytes, verifyUpdate, type KeyPair } from '@suture/shared/trust';
import { createDb } from '../src/db/index.ts';
import { createTestDatabaseUrl } from '../src/db/test-db.ts';
import { hashPassword } from '../src/lib/passwords.ts';

const CATALOG = Number(process.env.BENCH_CATALOG ?? 10_000);
const INVENTORY = 500;
const PATCHED_PER_INVENTORY = 50;
const RATE = 200;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Native Ed25519 for seeding speed; the signatures are byte-identical to tweetnacl's. */
function fastSigner(key: KeyPair) {
  const seed = fromHex(key.secretKey).slice(0, 32);
  const pk = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(fromHex(key.publicKey)).toString('base64url') },
    format: 'jwk',
  });
  return (kind: DocumentKind, doc: unknown) => {
    const payload = canonicalBytes(doc);
    const sig = edSign(null, pae(PayloadTypes[kind], payload), pk);
    return envelopeBytes({ payloadType: PayloadTypes[kind], payload: toBase64(payload), signatures: [{ keyid: key.keyid, sig: sig.toString('base64') }] });
  };
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function pgReachable(): Promise<boolean> {
  try {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test', connectionTimeoutMillis: 1000 });
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'suture-bench-'));
  const pg = process.env.BENCH_DATABASE_URL ? { url: process.env.BENCH_DATABASE_URL, drop: async () => {} } : (await pgReachable()) ? await createTestDatabaseUrl() : undefined;
  log(`database: ${pg ? 'PostgreSQL' : 'embedded PGlite'}; data dir ${dataDir}`);

  const rootKey = generateKeyPair();
  const publisher = generateKeyPair();
  const online = generateKeyPair();
  const onlineKeyFile = join(dataDir, 'online-key.json');
  await writeFile(onlineKeyFile, JSON.stringify({ keytype: 'ed25519', role: 'online', keyid: online.keyid, public: online.publicKey, secret: online.secretKey }), { mode: 0o600 });
  const keysOf = (ks: KeyPair[]) => Object.fromEntries(ks.map((k) => [k.keyid, { keytype: 'ed25519' as const, public: k.publicKey }]));
  const rootDoc = {
    type: 'root' as const,
    specVersion: SPEC_VERSION,
    version: 1,
    expires: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    keys: keysOf([rootKey, publisher, online]),
    roles: {
      root: { keyids: [rootKey.keyid], threshold: 1 },
      publisher: { keyids: [publisher.keyid], threshold: 1 },
      online: { keyids: [online.keyid], threshold: 1 },
    },
  };
  const rootBytes = envelopeBytes(signDocument('root', rootDoc, [rootKey]));

  // --- seed ---------------------------------------------------------------------------------
  const t0 = Date.now();
  const db = await createDb({ databaseUrl: pg?.url, dataDir, logger: pino({ level: 'warn' }) });
  const secret = `sut_${randomBytes(32).toString('base64url')}`;
  const user = await db.prisma.user.create({ data: { username: 'bench', role: 'operator', passwordHash: await hashPassword(randomBytes(16).toString('hex')) } });
  await db.prisma.apiToken.create({ data: { name: 'bench', userId: user.id, scopes: ['read'], tokenHash: sha256Hex(secret) } });
  await db.prisma.rootVersion.create({ data: { version: 1, envelope: rootBytes, expiresAt: new Date(rootDoc.expires) } });
  const signPatch = fastSigner(publisher);
  const signManifest = fastSigner(online);
  const expires = new Date(Date.now() + 6 * 3600_000);
  const catalog: string[] = [];
  let sample: { module: string; manifest: Uint8Array; patch: Uint8Array } | undefined;
  for (let start = 0; start < CATALOG; start += 1000) {
    const modules = [];
    const patches = [];
    const manifests = [];
    for (let i = start; i < Math.min(CATALOG, start + 1000); i++) {
      const sha = sha256Hex(`bench-module-${i}`);
      catalog.push(sha);
      const id = `BENCH-${i}`;
      const patch = signPatch('patch', {
        type: 'patch', specVersion: SPEC_VERSION, id, title: `Fix ${i}`, description: '', cves: ['CVE-2026-0001'], severity: 'high',
        module: { sha256: sha, size: 65536, name: `lib${i}.so`, platform: 'linux', arch: 'x86_64' },
        release: 1, created: new Date().toISOString(), patchlets: [{ kind: 'in-place', rva: 4096 + i, expect: '7f05', write: '7d05' }],
      });
      const manifest = signManifest('manifest', {
        type: 'manifest', specVersion: SPEC_VERSION, module: sha, version: 1, expires: expires.toISOString(),
        patches: [{ id, release: 1, length: patch.length, sha256: sha256Hex(patch) }],
      });
      sample ??= { module: sha, manifest, patch };
      modules.push({ sha256: sha, name: `lib${i}.so`, size: 65536n, platform: 'linux', arch: 'x86_64' });
      patches.push({ id, moduleSha256: sha, title: `Fix ${i}`, severity: 'high', cves: ['CVE-2026-0001'], release: 1, documentSha256: sha256Hex(patch), documentLength: patch.length, envelope: patch });
      manifests.push({ moduleSha256: sha, version: 1, expiresAt: expires, envelope: manifest });
    }
    await db.prisma.module.createMany({ data: modules });
    await db.prisma.patch.createMany({ data: patches });
    await db.prisma.manifest.createMany({ data: manifests });
    log(`seeded ${Math.min(CATALOG, start + 1000)}/${CATALOG} modules`);
  }
  await db.close();
  log(`seeding took ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // --- server -------------------------------------------------------------------------------
  const port = await freePort();
  const serverEntry = fileURLToPath(new URL('../src/server.ts', import.meta.url));
  // The same flags as `pnpm start`: a larger young generation keeps scavenges off the tail.
  const server = spawn(process.execPath, ['--max-semi-space-size=32', '--import', 'tsx', serverEntry], {
    env: { ...process.env, PORT: String(port), SUTURE_DATA_DIR: dataDir, ONLINE_KEY_FILE: onlineKeyFile, LOG_LEVEL: 'warn', ...(pg ? { DATABASE_URL: pg.url } : { DATABASE_URL: '' }) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const stopServer = () => new Promise<void>((res) => { server.once('exit', () => res()); server.kill('SIGTERM'); });
  try {
    for (let i = 0; ; i++) {
      if (server.exitCode !== null) throw new Error('the server exited during start-up');
      try { if ((await fetch(`${base}/readyz`)).ok) break; } catch { /* not listening yet */ }
      if (i > 300) throw new Error('the server did not become ready in 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    log(`server ready on ${base}`);

    // 20 distinct inventories of 500 hashes, 50 of them patched.
    const bodies = Array.from({ length: 20 }, (_, b) => {
      const mods = new Set<string>();
      while (mods.size < PATCHED_PER_INVENTORY) mods.add(catalog[Math.floor(Math.random() * catalog.length)]!);
      for (let i = 0; mods.size < INVENTORY; i++) mods.add(sha256Hex(`unpatched-${b}-${i}`));
      return JSON.stringify({ modules: [...mods] });
    });
    const check = await fetch(`${base}/api/v1/manifests/batch`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: bodies[0] });
    const found = Object.keys(((await check.json()) as { manifests: Record<string, string> }).manifests ?? {}).length;
    if (!check.ok || found !== PATCHED_PER_INVENTORY) throw new Error(`sanity check failed: status ${check.status}, ${found} manifests`);

    const run = (opts: { rate?: number; connections: number; duration: number }) =>
      autocannon({
        url: `${base}/api/v1/manifests/batch`,
        connections: opts.connections,
        duration: opts.duration,
        ...(opts.rate ? { overallRate: opts.rate } : {}),
        requests: bodies.map((body) => ({ method: 'POST' as const, path: '/api/v1/manifests/batch', body, headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' } })),
      });
    // Long enough for the manifest index to have loaded the catalog and left the re-read window
    // of the bulk seed (see manifest-index.ts): the figures are for the steady state.
    log('warm-up 8 s');
    await run({ connections: 4, duration: 8 });
    log(`fixed rate ${RATE} req/s for ${DURATION_S} s`);
    const fixed = await run({ rate: RATE, connections: 4, duration: DURATION_S });
    log(`  p50 ${fixed.latency.p50} ms, p99 ${fixed.latency.p99} ms, ${fixed.requests.average} req/s, non-2xx ${fixed.non2xx}, errors ${fixed.errors}`);
    log('maximum throughput for 10 s');
    const max = await run({ connections: 16, duration: 10 });
    log(`  ${max.requests.average} req/s, p50 ${max.latency.p50} ms, p99 ${max.latency.p99} ms, non-2xx ${max.non2xx}`);

    // The agent's verify path: root pinned, one manifest + one patch, two signatures.
    const pinned = pinRoot({ bytes: rootBytes, now: new Date() });
    if (!pinned.ok) throw new Error(pinned.detail);
    const s = sample!;
    let n = 0;
    const vt0 = process.hrtime.bigint();
    while (process.hrtime.bigint() - vt0 < 2_000_000_000n) {
      const r = verifyUpdate({ state: pinned.value, manifest: s.manifest, patches: [s.patch], mappedModuleSha256: s.module, now: new Date() });
      if (!r.ok) throw new Error(`verify failed: ${r.reason} ${r.detail}`);
      n++;
    }
    const secs = Number(process.hrtime.bigint() - vt0) / 1e9;
    const verifyPerS = Math.round((n * 2) / secs);
    log(`verify path: ${Math.round(n / secs)} updates/s (${verifyPerS} signature verifications/s)`);

    const result = {
      bench: 'manifests',
      database: pg ? 'postgres' : 'pglite',
      catalog: CATALOG,
      inventory: INVENTORY,
      rate: RATE,
      p50_ms: fixed.latency.p50,
      p99_ms: fixed.latency.p99,
      achieved_rps_at_rate: fixed.requests.average,
      rps: max.requests.average,
      max_p99_ms: max.latency.p99,
      errors: fixed.errors + fixed.non2xx + max.errors + max.non2xx,
      verify_per_s: verifyPerS,
      // Other work on the machine inflates tail latency: the 1-minute load average at the end.
      loadavg_1m: Number(loadavg()[0]!.toFixed(2)),
      target_met: fixed.latency.p99 < 20 && fixed.non2xx === 0,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await stopServer();
    await pg?.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
