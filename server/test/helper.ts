import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createTestDatabaseUrl, testDbKinds } from '../src/db/test-db.ts';
import { signDocument, generateKeyPair, envelopeBytes, type KeyPair } from '@suture/shared/trust';
import { SPEC_VERSION, type PatchDocument, type RootDocument } from '@suture/shared/schemas';

export type DbKind = 'postgres' | 'pglite';

/** Which databases the integration tests run on: SUTURE_TEST_DB=postgres|pglite|both (default both). */
export const dbKinds = testDbKinds;

export interface TestApp {
  app: FastifyInstance;
  dataDir: string;
  close(): Promise<void>;
}

/** A real app on a fresh database (a new PostgreSQL database, or PGlite in a temp dir). */
export async function buildTestApp(kind: DbKind, env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'suture-test-'));
  const pg = kind === 'postgres' ? await createTestDatabaseUrl() : undefined;
  const config = loadConfig({ SUTURE_DATA_DIR: dataDir, ...(pg ? { DATABASE_URL: pg.url } : {}), ...env });
  const app = await buildApp({ config, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  await app.ready();
  return {
    app,
    dataDir,
    async close() {
      await app.close();
      await pg?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createUserAndLogin(app: FastifyInstance, opts: { username: string; role: 'admin' | 'operator' | 'auditor' }) {
  const password = `pw-${opts.username}-long-enough`;
  await app.services.users.create({ username: opts.username, password, role: opts.role });
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: opts.username, password } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
  return { token: res.json().token as string, password };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export type Trust = ReturnType<typeof makeTrust>;

export interface TestServer extends TestApp {
  /** Session token of the admin `alice`. */
  admin: string;
  /** The root in force and its publisher key (to sign patches with). */
  trust: Trust;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** The agents' WebSocket URL. */
  wsUrl: string;
}

/**
 * What most API tests start from: a real app on a fresh database with an admin logged in and a
 * root in force (agents enroll only once there is one), listening on a free local port for real
 * HTTP and WebSocket clients.
 */
export async function startTestServer(kind: DbKind, env: Record<string, string> = {}): Promise<TestServer> {
  const t = await buildTestApp(kind, env);
  try {
    const { token: admin } = await createUserAndLogin(t.app, { username: 'alice', role: 'admin' });
    const trust = makeTrust(t.app.onlineKey);
    const root = await t.app.inject({ method: 'PUT', url: '/api/v1/root', headers: bearer(admin), payload: trust.rootEnvelope });
    if (root.statusCode !== 200) throw new Error(`PUT /api/v1/root: ${root.statusCode} ${root.body}`);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    return { ...t, admin, trust, base, wsUrl: `${base.replace(/^http/, 'ws')}/api/v1/agents/socket` };
  } catch (err) {
    await t.close();
    throw err;
  }
}

export function expectError(res: LightMyRequestResponse, status: number, code?: string) {
  if (res.statusCode !== status) throw new Error(`expected ${status}, got ${res.statusCode}: ${res.body}`);
  const body = res.json();
  if (!body.error?.code || !body.error?.requestId) throw new Error(`not the error shape: ${res.body}`);
  if (code && body.error.code !== code) throw new Error(`expected error code ${code}, got ${body.error.code}`);
  return body.error as { code: string; message: string; reason?: string };
}

/** Keys and a root naming them and the app's online key. */
export function makeTrust(onlineKey: { keyid: string; publicKey: string }, opts: { version?: number; expiresDays?: number } = {}) {
  const root = generateKeyPair();
  const publisher = generateKeyPair();
  const doc = rootDoc({ root: [root], publisher: [publisher], online: [onlineKey], version: opts.version ?? 1, expiresDays: opts.expiresDays });
  return { root, publisher, rootDoc: doc, rootEnvelope: signDocument('root', doc, [root]) };
}

export function rootDoc(opts: {
  root: Pick<KeyPair, 'keyid' | 'publicKey'>[];
  publisher: Pick<KeyPair, 'keyid' | 'publicKey'>[];
  online: Pick<KeyPair, 'keyid' | 'publicKey'>[];
  version: number;
  expiresDays?: number;
}): RootDocument {
  const all = [...opts.root, ...opts.publisher, ...opts.online];
  return {
    type: 'root',
    specVersion: SPEC_VERSION,
    version: opts.version,
    expires: new Date(Date.now() + (opts.expiresDays ?? 365) * 86_400_000).toISOString(),
    keys: Object.fromEntries(all.map((k) => [k.keyid, { keytype: 'ed25519' as const, public: k.publicKey }])),
    roles: {
      root: { keyids: opts.root.map((k) => k.keyid), threshold: 1 },
      publisher: { keyids: opts.publisher.map((k) => k.keyid), threshold: 1 },
      online: { keyids: opts.online.map((k) => k.keyid), threshold: 1 },
    },
  };
}

let counter = 0;
export function patchDoc(overrides: Partial<PatchDocument> & { moduleSha256?: string } = {}): PatchDocument {
  const { moduleSha256, ...rest } = overrides;
  counter++;
  return {
    type: 'patch',
    specVersion: SPEC_VERSION,
    id: `SUT-${counter}`,
    title: 'Fix an out-of-bounds write',
    description: 'bounds check',
    cves: ['CVE-2026-12345'],
    severity: 'high',
    module: {
      sha256: moduleSha256 ?? 'ab'.repeat(32),
      size: 16384,
      name: 'libdemo.so',
      platform: 'linux',
      arch: 'x86_64',
      buildId: '0123456789abcdef',
    },
    release: 1,
    created: new Date().toISOString(),
    patchlets: [{ kind: 'in-place', rva: 0x1139, expect: '7f05', write: '7d05' }],
    ...rest,
  };
}

export { envelopeBytes, signDocument };

/** Reads a server-sent event stream until `stop` says so (or `timeoutMs` passes); returns the events seen, keep-alive comments left out. */
export async function readSse(res: Response, stop: (seen: { id: string | null; event: string; data: any }[]) => boolean, timeoutMs = 10_000) {
  const seen: { id: string | null; event: string; data: any }[] = [];
  const reader = res.body!.getReader();
  const timer = setTimeout(() => void reader.cancel(), timeoutMs);
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return seen;
      buf += Buffer.from(value).toString('utf8');
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        if (!event) continue; // a comment (keep-alive)
        seen.push({ id: /^id: (.*)$/m.exec(block)?.[1] ?? null, event, data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') });
        if (stop(seen)) return (await reader.cancel(), seen);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
