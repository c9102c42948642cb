/**
 * End to end across processes: the real CLI and the real server (embedded PGlite) on loopback.
 * keys -> root -> author a patch against a module compiled here -> sign -> publish -> fetch the
 * manifest -> verify it as an agent would; and the refusals along the way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, suture, type ServerProcess } from './harness.ts';

const FLAWED_C = `
/* check_len accepts n == 16 for a 16-byte buffer: an off-by-one. */
__attribute__((noinline)) int check_len(int n) { return n <= 16; }
`;

/** Finds the `setle` in check_len with objdump: its RVA (PIE/shared: vaddr) and bytes. */
function findFlaw(lib: string): { rva: number; bytes: string } {
  const raw = execFileSync('objdump', ['-d', lib], { encoding: 'utf8' });
  const fn = raw.split('\n\n').find((b) => b.includes('<check_len>:'));
  assert.ok(fn, `check_len not found in\n${raw.slice(0, 500)}`);
  const line = fn.split('\n').find((l) => /\tsetle\s/.test(l));
  assert.ok(line, `no setle in check_len:\n${fn}`);
  const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t/.exec(line);
  assert.ok(m, line);
  return { rva: parseInt(m[1]!, 16), bytes: m[2]!.replace(/ /g, '') };
}

describe('publish a micropatch end to end (CLI + server process)', () => {
  let dir: string;
  let server: ServerProcess;
  let env: Record<string, string>;
  const password = 'correct horse battery staple';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'suture-e2e-'));
    execFileSync('gcc', ['-O1', '-shared', '-fPIC', '-Wl,--build-id', '-o', join(dir, 'libflaw.so'), '-x', 'c', '-'], { input: FLAWED_C });
    env = { SUTURE_DATA_DIR: join(dir, 'data'), SUTURE_CONFIG: join(dir, 'cli-config.json'), DATABASE_URL: '' };
    const admin = suture(['admin', 'create', '--username', 'alice', '--password-stdin', '--json'], { env, input: `${password}\n` });
    assert.equal(admin.status, 0, admin.stderr);
    assert.equal(admin.json<{ role: string }>().role, 'admin');
    server = await startServer({ SUTURE_DATA_DIR: env.SUTURE_DATA_DIR!, DATABASE_URL: '' });
    env.SUTURE_SERVER = server.url;
  });
  after(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the first admin can be made only once; no secret reaches the logs', async () => {
    await server.stop();
    const again = suture(['admin', 'create', '--username', 'mallory', '--password-stdin'], { env, input: 'another long password\n' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /admin already exists/);
    server = await startServer({ SUTURE_DATA_DIR: env.SUTURE_DATA_DIR!, DATABASE_URL: '' });
    env.SUTURE_SERVER = server.url;
  });

  test('log in, keys, root, author, sign, publish, fetch and verify the manifest', async () => {
    const login = suture(['login', '--server', server.url, '--username', 'alice', '--password-stdin', '--json'], { env, input: `${password}\n` });
    assert.equal(login.status, 0, login.stderr);
    assert.equal((await stat(env.SUTURE_CONFIG!)).mode & 0o777, 0o600);

    for (const role of ['root', 'publisher']) {
      const r = suture(['keys', 'generate', '--role', role, '--out', join(dir, `${role}.key.json`), '--json'], { env });
      assert.equal(r.status, 0, r.stderr);
    }
    const online = suture(['server', 'online-key', '--out', join(dir, 'online.pub.json'), '--json'], { env });
    assert.equal(online.status, 0, online.stderr);

    const root = suture(
      ['root', 'create', '--root-key', join(dir, 'root.key.json'), '--threshold', '1', '--publisher', join(dir, 'publisher.key.json.pub'),
        '--publisher-threshold', '1', '--online', join(dir, 'online.pub.json'), '--online-threshold', '1', '--out', join(dir, 'root.json'), '--json'],
      { env },
    );
    assert.equal(root.status, 0, root.stderr);
    const pub = suture(['root', 'publish', join(dir, 'root.json'), '--json'], { env });
    assert.equal(pub.status, 0, pub.stderr);

    const lib = join(dir, 'libflaw.so');
    const flaw = findFlaw(lib);
    const fixed = flaw.bytes.replace(/^0f9e/, '0f9c'); // setle -> setl
    await writeFile(
      join(dir, 'fix.yaml'),
      [
        'id: SUT-2026-0001',
        'title: check_len off-by-one',
        'description: check_len accepted a length equal to the buffer size',
        'cves: [CVE-2026-40001]',
        'severity: high',
        'release: 1',
        'patchlets:',
        `  - kind: in-place`,
        `    rva: ${flaw.rva}`,
        `    expect: "${flaw.bytes}"`,
        `    write: "${fixed}"`,
        '',
      ].join('\n'),
    );
    const made = suture(['patch', 'new', '--source', join(dir, 'fix.yaml'), '--module', lib, '--out', join(dir, 'fix.doc.json'), '--json'], { env });
    assert.equal(made.status, 0, made.stderr);
    const signed = suture(['patch', 'sign', '--in', join(dir, 'fix.doc.json'), '--key', join(dir, 'publisher.key.json'), '--out', join(dir, 'fix.signed.json'), '--json'], { env });
    assert.equal(signed.status, 0, signed.stderr);
    const verified = suture(['patch', 'verify', '--in', join(dir, 'fix.signed.json'), '--root', join(dir, 'root.json'), '--module', lib, '--json'], { env });
    assert.equal(verified.status, 0, verified.stderr);

    const published = suture(['patch', 'publish', join(dir, 'fix.signed.json'), '--json'], { env });
    assert.equal(published.status, 0, published.stderr);
    const p = published.json<{ id: string; moduleSha256: string }>();
    assert.equal(p.id, 'SUT-2026-0001');

    const got = suture(['manifest', 'get', p.moduleSha256, '--out', join(dir, 'manifest.json'), '--json'], { env });
    assert.equal(got.status, 0, got.stderr);
    const check = suture(
      ['manifest', 'verify', '--manifest', join(dir, 'manifest.json'), '--root', join(dir, 'root.json'), '--module', lib, '--patch', join(dir, 'fix.signed.json'), '--json'],
      { env },
    );
    assert.equal(check.status, 0, check.stderr);
    assert.deepEqual(check.json<{ patches: string[] }>().patches, ['SUT-2026-0001']);

    // A read-only token fetches manifests but cannot publish.
    const tok = suture(['token', 'create', '--name', 'siem', '--scope', 'read', '--json'], { env });
    assert.equal(tok.status, 0, tok.stderr);
    const token = tok.json<{ token: string }>().token;
    const withToken = { ...env, SUTURE_TOKEN: token, SUTURE_CONFIG: join(dir, 'none.json') };
    assert.equal(suture(['manifest', 'get', p.moduleSha256, '--out', join(dir, 'm2.json')], { env: withToken }).status, 0);
    const denied = suture(['patch', 'publish', join(dir, 'fix.signed.json')], { env: withToken });
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /publish/);

    // Nothing secret in the server's log.
    const keyFile = JSON.parse(await readFile(join(dir, 'publisher.key.json'), 'utf8'));
    for (const secret of [password, token, keyFile.secret]) assert.ok(!server.logs().includes(secret), 'a secret reached the server log');
  });

  test('refusals: a wrong RVA at authoring, a patch signed by a key the root does not name', async () => {
    const lib = join(dir, 'libflaw.so');
    const flaw = findFlaw(lib);
    await writeFile(
      join(dir, 'bad.yaml'),
      `id: SUT-BAD\ntitle: t\ndescription: d\ncves: []\nseverity: low\nrelease: 1\npatchlets:\n  - kind: in-place\n    rva: ${flaw.rva + 1}\n    expect: "${flaw.bytes}"\n    write: "${flaw.bytes}"\n`,
    );
    const bad = suture(['patch', 'new', '--source', join(dir, 'bad.yaml'), '--module', lib, '--out', join(dir, 'bad.doc.json')], { env });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /patchlet 0/i);

    const rogue = suture(['keys', 'generate', '--role', 'publisher', '--out', join(dir, 'rogue.key.json')], { env });
    assert.equal(rogue.status, 0, rogue.stderr);
    const doc = JSON.parse(await readFile(join(dir, 'fix.doc.json'), 'utf8'));
    await writeFile(join(dir, 'rogue.doc.json'), JSON.stringify({ ...doc, id: 'SUT-ROGUE' }));
    assert.equal(suture(['patch', 'sign', '--in', join(dir, 'rogue.doc.json'), '--key', join(dir, 'rogue.key.json'), '--out', join(dir, 'rogue.signed.json')], { env }).status, 0);
    const refused = suture(['patch', 'publish', join(dir, 'rogue.signed.json'), '--json'], { env });
    assert.equal(refused.status, 1);
    const err = JSON.parse(refused.stdout || refused.stderr).error;
    assert.equal(err.reason, 'threshold-not-met');
  });
});
