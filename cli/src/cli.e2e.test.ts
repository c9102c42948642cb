/**
 * The real CLI as child processes, end to end: keys -> root -> a patch authored against a module
 * gcc builds here -> sign -> verify, and the refusals on the way. Independent runs go in parallel.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelopeBytes, generateKeyPair, pinRoot, signDocument, updateRoot } from '@suture/shared/trust';
import { buildModule, instructions, suture, symbolRva, transcript, type CliRun } from './cli.test-helper.ts';

let dir: string;
const p = (name: string) => join(dir, name);
const ok = (r: CliRun) => assert.equal(r.status, 0, `suture ${r.args.join(' ')} failed:\n${r.stderr}`);
const refused = (r: CliRun, pattern: RegExp, status = 1) => {
  assert.equal(r.status, status, `suture ${r.args.join(' ')} should fail with ${status}:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
};
const hex = (n: number) => `0x${n.toString(16)}`;

/** The patch source for the module built in `before`: an in-place fix and a detour. */
let source: { inPlace: { rva: number; expect: string }; detour: { rva: number; expect: string }; counterRva: number };
const yaml = (o: { inPlaceRva?: number; inPlaceExpect?: string; extra?: string } = {}) => `
id: SUT-2026-0001
title: check_len off-by-one
description: check_len accepted one byte too many
cves: [CVE-2026-40001]
severity: high
release: 1
patchlets:
  - kind: in-place
    rva: ${hex(o.inPlaceRva ?? source.inPlace.rva)}
    expect: "${(o.inPlaceExpect ?? source.inPlace.expect).replace(/(..)/g, '$1 ').trim()}"
    write: "83 ff 0f"
  - kind: detour
    rva: ${source.detour.rva}
    expect: "${source.detour.expect}"
    code: "${source.detour.expect.slice(0, 10)} 00000000 e9 00000000"
    relocations:
      - { offset: 5, type: rel32, targetRva: ${hex(source.counterRva)} }
      - { offset: 10, type: rel32, targetRva: ${source.detour.rva + source.detour.expect.length / 2} }
${o.extra ?? ''}`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'suture-cli-'));
  buildModule({ out: p('flaw') });
  const check = instructions({ file: p('flaw'), symbol: 'check_len' });
  const scale = instructions({ file: p('flaw'), symbol: 'scale' });
  assert.equal(check[0]!.hex, '83ff10', 'cmp $0x10,%edi opens check_len');
  // A detour replaces whole instructions, at least 5 bytes: lea (3) + add rip-relative (6).
  assert.equal(scale[0]!.hex.length / 2 + scale[1]!.hex.length / 2, 9);
  source = {
    inPlace: { rva: check[0]!.rva, expect: check[0]!.hex },
    detour: { rva: scale[0]!.rva, expect: scale[0]!.hex + scale[1]!.hex },
    counterRva: symbolRva({ file: p('flaw'), symbol: 'counter' }),
  };
  await writeFile(p('fix.yaml'), yaml());
});
after(async () => rm(dir, { recursive: true, force: true }));

describe('suture CLI end to end', () => {
  test('keys generate: 0600 secret file made with O_EXCL, .pub beside it, keyid printed', async () => {
    const roles = { root1: 'root', root2: 'root', publisher: 'publisher' } as const;
    await writeFile(p('taken.key'), 'precious');
    await writeFile(p('spare.key'), 'old', { mode: 0o644 });
    const [again, forced, ...runs] = await Promise.all([
      suture(['keys', 'generate', '--role', 'root', '--out', p('taken.key')]),
      suture(['keys', 'generate', '--role', 'online', '--out', p('spare.key'), '--force']),
      ...Object.entries(roles).map(([name, role]) => suture(['--json', 'keys', 'generate', '--role', role, '--out', p(`${name}.key`)])),
      // as the root `pnpm suture` runs it, with human output
      suture(['keys', 'generate', '--role', 'online', '--out', p('online.key')], { via: 'tsx' }),
    ]);
    runs.forEach(ok);
    for (const [i, name] of ['root1', 'root2', 'publisher', 'online'].entries()) {
      const secret = JSON.parse(await readFile(p(`${name}.key`), 'utf8'));
      const pub = JSON.parse(await readFile(p(`${name}.key.pub`), 'utf8'));
      assert.equal((await stat(p(`${name}.key`))).mode & 0o777, 0o600);
      assert.deepEqual(Object.keys(secret).sort(), ['keyid', 'keytype', 'public', 'role', 'secret']);
      assert.deepEqual(pub, { keytype: 'ed25519', role: secret.role, keyid: secret.keyid, public: secret.public });
      if (name !== 'online') assert.equal(runs[i]!.json<{ keyid: string }>().keyid, secret.keyid);
      else assert.equal(runs[i]!.stdout.split('\n')[0], secret.keyid, 'human output starts with the keyid');
    }
    refused(again!, /taken\.key exists.*--force/);
    assert.equal(await readFile(p('taken.key'), 'utf8'), 'precious', 'not overwritten');
    await assert.rejects(stat(p('taken.key.pub')), 'no half-written pair');
    ok(forced!);
    assert.equal((await stat(p('spare.key'))).mode & 0o777, 0o600, '--force tightens the mode of the file it overwrites');
  });

  test('root create, then rotate: refused without the old threshold, accepted with both', async () => {
    const created = await suture([
      '--json', 'root', 'create', '--root-key', p('root1.key'), '--threshold', '1', '--publisher', p('publisher.key.pub'), '--publisher-threshold', '1',
      '--online', p('online.key.pub'), '--online-threshold', '1', '--expires', '30', '--out', p('root-v1.json'),
    ]);
    ok(created);
    assert.equal(created.json<{ version: number }>().version, 1);
    const v1 = await readFile(p('root-v1.json'));
    assert.equal(created.json<{ sha256: string }>().sha256, createHash('sha256').update(v1).digest('hex'), 'the file is the canonical envelope');
    const pinned = pinRoot({ bytes: v1, now: new Date() });
    assert.ok(pinned.ok, 'an agent pins the written root');

    const rotate = (...keys: string[]) => ['root', 'rotate', '--current', p('root-v1.json'), ...keys, '--new-root-key', p('root2.key')];
    const [noOld, good] = await Promise.all([
      suture([...rotate('--old-key', p('root2.key')), '--out', p('bad.json')]),
      suture(['--json', ...rotate('--old-key', p('root1.key')), '--out', p('root-v2.json')]),
    ]);
    refused(noOld, /root v1's threshold is not met.*--old-key/);
    ok(good);
    const v2 = good.json<{ version: number; roles: { publisher: { keyids: string[] } } }>();
    assert.equal(v2.version, 2);
    assert.deepEqual(v2.roles.publisher.keyids, [JSON.parse(await readFile(p('publisher.key.pub'), 'utf8')).keyid], 'unchanged roles carry over');
    await assert.rejects(stat(p('bad.json')), 'nothing written on refusal');
    assert.ok(pinned.ok && updateRoot({ state: pinned.value, roots: [await readFile(p('root-v2.json'))], now: new Date() }).ok, 'an agent accepts v1 -> v2');
  });

  test('patch new against the gcc-built module, sign, verify against root v1 and v2', async () => {
    const made = await suture(['--json', 'patch', 'new', '--source', p('fix.yaml'), '--module', p('flaw'), '--out', p('fix.doc.json')]);
    ok(made);
    const doc = JSON.parse(await readFile(p('fix.doc.json'), 'utf8'));
    assert.equal(doc.module.sha256, createHash('sha256').update(await readFile(p('flaw'))).digest('hex'));
    assert.equal(doc.module.platform, 'linux');
    assert.match(doc.module.buildId, /^[0-9a-f]+$/);
    assert.ok(Math.abs(Date.parse(doc.created) - Date.now()) < 60_000);
    assert.deepEqual(doc.patchlets[0], { kind: 'in-place', rva: source.inPlace.rva, expect: '83ff10', write: '83ff0f' });
    assert.equal(doc.patchlets[1].relocations[1].targetRva, source.detour.rva + 9);

    ok(await suture(['patch', 'sign', '--in', p('fix.doc.json'), '--key', p('publisher.key'), '--out', p('fix.signed.json')]));
    const [v1, v2] = await Promise.all([
      suture(['--json', 'patch', 'verify', '--in', p('fix.signed.json'), '--root', p('root-v1.json'), '--module', p('flaw')]),
      suture(['patch', 'verify', '--in', p('fix.signed.json'), '--root', p('root-v2.json')]),
    ]);
    [v1, v2].forEach(ok);
    const { module, sha256, signedBy, ...rest } = v1.json<{ module: { sha256: string }; sha256: string; signedBy: string[] }>();
    assert.deepEqual(rest, {
      ok: true, id: 'SUT-2026-0001', release: 1, title: 'check_len off-by-one', severity: 'high', cves: ['CVE-2026-40001'], rootVersion: 1,
      patchlets: [{ kind: 'in-place', rva: source.inPlace.rva, length: 3 }, { kind: 'detour', rva: source.detour.rva, length: 9 }], moduleChecked: true,
    });
    assert.equal(module.sha256, doc.module.sha256);
    assert.equal(sha256, createHash('sha256').update(await readFile(p('fix.signed.json'))).digest('hex'));
    assert.deepEqual(signedBy, [JSON.parse(await readFile(p('publisher.key.pub'), 'utf8')).keyid]);
    assert.match(v2.stdout, /^OK: signed by 1 of 1 required publisher key\(s\) of root v2\n.*SUT-2026-0001 r1 \[high\]/);
  });

  test('patch new refuses wrong RVAs and bytes, naming the patchlet, RVA, expected and found bytes', async () => {
    const wrong = source.inPlace.rva + 1;
    await writeFile(p('wrong-rva.yaml'), yaml({ inPlaceRva: wrong }));
    await writeFile(p('wrong-bytes.yaml'), yaml({ inPlaceExpect: '83ff11' }));
    await writeFile(
      p('bad-schema.yaml'),
      yaml({ extra: `  - kind: in-place\n    rva: 12\n    expect: "8"\n    write: 90\n  - kind: jump\n    rva: 1\n` }).replace('severity: high', 'severity: urgent'),
    );
    await writeFile(p('bad-reloc.yaml'), yaml().replace('offset: 10', 'offset: 11'));
    const out = (name: string) => ['patch', 'new', '--source', p(name), '--module', p('flaw'), '--out', p(`${name}.doc.json`)];
    const [rva, bytes, schema, reloc] = await Promise.all([
      suture(['--json', ...out('wrong-rva.yaml')]),
      suture(out('wrong-bytes.yaml')),
      suture(out('bad-schema.yaml')),
      suture(out('bad-reloc.yaml')),
    ]);
    refused(rva, new RegExp(`patchlet 0 \\(in-place at RVA ${hex(wrong)}\\): expected 83ff10 but flaw has (?!83ff10)[0-9a-f]{6} there`));
    refused(bytes, new RegExp(`patchlet 0 .*RVA ${hex(source.inPlace.rva)}.*expected 83ff11 but flaw has 83ff10`));
    refused(schema, /severity: must be one of.*patchlets\[2\]\.expect: must be hex bytes.*patchlets\[2\]\.write: must be hex bytes.*patchlets\[3\]\.kind: must be "in-place" or "detour"/);
    refused(reloc, /patchlet 1 \(detour.*relocation 1 \(rel32 at code offset 11\) needs 4 bytes but the code is 14 bytes/);
    const err = rva.json<{ error: { code: string; message: string; patchlet: number } }>().error;
    assert.deepEqual([err.code, err.patchlet], ['expect-mismatch', 0]);
    await assert.rejects(stat(p('wrong-rva.yaml.doc.json')), 'nothing written on refusal');
  });

  test('patch verify refuses a tampered file, a key the root does not name, another module', async () => {
    const env = JSON.parse(await readFile(p('fix.signed.json'), 'utf8'));
    env.payload = Buffer.from(Buffer.from(env.payload, 'base64').toString().replace('"high"', '"low"')).toString('base64');
    await writeFile(p('tampered.json'), JSON.stringify(env));
    // A well-formed patch signed by a publisher key that the root does not name.
    const doc = JSON.parse(await readFile(p('fix.doc.json'), 'utf8'));
    await writeFile(p('rogue.signed.json'), envelopeBytes(signDocument('patch', doc, [generateKeyPair()])));
    buildModule({ out: p('other'), source: 'int main(void) { return 3; }\n' });
    const verify = (file: string, ...more: string[]) => ['patch', 'verify', '--in', p(file), '--root', p('root-v1.json'), ...more];
    const [tampered, rogue, otherModule, onlineKey] = await Promise.all([
      suture(['--json', ...verify('tampered.json')]),
      suture(verify('rogue.signed.json')),
      suture(['--json', ...verify('fix.signed.json', '--module', p('other'))]),
      suture(['patch', 'sign', '--in', p('fix.doc.json'), '--key', p('online.key'), '--out', p('online.signed.json')]),
    ]);
    assert.equal(tampered.status, 1);
    assert.equal(tampered.json<{ error: { reason: string } }>().error.reason, 'threshold-not-met');
    refused(rogue, /refused \(threshold-not-met\): 0 valid publisher signature\(s\) of 1 required/);
    assert.equal(otherModule.status, 1);
    assert.equal(otherModule.json<{ error: { reason: string } }>().error.reason, 'wrong-module');
    refused(onlineKey, /online key, not a publisher key.*--force-role/);
  });

  test('usage errors exit 2 with one line, or one JSON object with --json', async () => {
    const missing = await suture(['--json', 'root', 'create', '--root-key', p('root1.key')]);
    refused(missing, /required option '--out <path>' not specified; see "suture root create --help"/, 2);
    assert.deepEqual(missing.json(), { error: { code: 'usage', message: missing.stderr.trim().replace(/^suture: /, '') } });
  });

  test('no secret key ever reached stdout or stderr', async () => {
    for (const name of ['root1', 'root2', 'publisher', 'online', 'spare']) {
      const { secret } = JSON.parse(await readFile(p(`${name}.key`), 'utf8'));
      assert.ok(!transcript.some((t) => t.includes(secret) || t.includes(secret.slice(0, 64))), `${name} secret was printed`);
    }
  });
});
