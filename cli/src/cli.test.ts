/** The real CLI as a child process: local key and root handling, and its refusals. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/suture.mjs', import.meta.url));
let dir: string;
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, SUTURE_CONFIG: join(dir, 'none.json') }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const p = (name: string) => join(dir, name);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'suture-cli-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

test('keys generate: secret file 0600, never printed, never overwritten', async () => {
  const r = cli('--json', 'keys', 'generate', '--role', 'root', '--out', p('root1.json'));
  assert.equal(r.status, 0, r.stderr);
  const secret = JSON.parse(await readFile(p('root1.json'), 'utf8')).secret as string;
  assert.equal((await stat(p('root1.json'))).mode & 0o777, 0o600);
  assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret));
  assert.equal(JSON.parse(r.stdout).keyid, JSON.parse(await readFile(p('root1.json.pub'), 'utf8')).keyid);
  const again = cli('keys', 'generate', '--role', 'root', '--out', p('root1.json'));
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists.*--force/);
  for (const [role, f] of [['root', 'root2.json'], ['publisher', 'pub.json'], ['online', 'online.json']]) {
    assert.equal(cli('keys', 'generate', '--role', role!, '--out', p(f!)).status, 0);
  }
});

test('root create, rotate with both thresholds, and refusals', async () => {
  let r = cli('--json', 'root', 'create', '--root-key', p('root1.json'), '--publisher', p('pub.json.pub'), '--online', p('online.json.pub'), '--out', p('root-v1.json'));
  assert.equal(r.status, 0, r.stderr);
  r = cli('root', 'rotate', '--current', p('root-v1.json'), '--old-key', p('root2.json'), '--new-root-key', p('root2.json'), '--out', p('bad.json'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /current root's threshold/);
  r = cli('--json', 'root', 'rotate', '--current', p('root-v1.json'), '--old-key', p('root1.json'), '--new-root-key', p('root2.json'), '--out', p('root-v2.json'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).version, 2);
});

test('patch verify refuses a tampered file and a key the root does not name; --json errors have one shape', async () => {
  const doc = {
    type: 'patch', specVersion: '1', id: 'SUT-T', title: 't', description: '', cves: [], severity: 'low', release: 1, created: new Date().toISOString(),
    module: { sha256: 'ab'.repeat(32), size: 10, name: 'x.so', platform: 'linux', arch: 'x86_64' },
    patchlets: [{ kind: 'in-place', rva: 16, expect: '90', write: 'cc' }],
  };
  await writeFile(p('doc.json'), JSON.stringify(doc));
  assert.equal(cli('patch', 'sign', '--in', p('doc.json'), '--key', p('pub.json'), '--out', p('signed.json')).status, 0);
  assert.equal(cli('patch', 'verify', '--in', p('signed.json'), '--root', p('root-v1.json')).status, 0);
  const env = JSON.parse(await readFile(p('signed.json'), 'utf8'));
  env.payload = Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('"low"', '"high"')).toString('base64');
  await writeFile(p('tampered.json'), JSON.stringify(env));
  let r = cli('--json', 'patch', 'verify', '--in', p('tampered.json'), '--root', p('root-v1.json'));
  assert.equal(r.status, 1);
  assert.equal(JSON.parse(r.stdout).error.reason, 'threshold-not-met');
  assert.equal(cli('patch', 'sign', '--in', p('doc.json'), '--key', p('online.json'), '--out', p('x.json')).status, 1, 'an online key is not a publisher key');
  assert.equal(cli('patch', 'sign', '--force-role', '--in', p('doc.json'), '--key', p('online.json'), '--out', p('by-online.json')).status, 0);
  r = cli('patch', 'verify', '--in', p('by-online.json'), '--root', p('root-v1.json'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /threshold-not-met/);
  r = cli('patch', 'new', '--source', p('missing.yaml'), '--module', p('x'), '--out', p('y'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read patch source/);
  assert.equal(cli('nonsense-command').status, 2);
});
