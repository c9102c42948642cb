import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Patchlet } from '@suture/shared/schemas';
import { CliError } from './output.util.ts';
import { parsePatchSource } from './patch-source.schema.ts';
import { checkPatchletShapes } from './patchlet-check.util.ts';

const base = `id: SUT-1\ntitle: t\nseverity: low\nrelease: 2\n`;
const rejects = async (text: string, pattern: RegExp, path = 'p.yaml') =>
  assert.rejects(parsePatchSource({ text, path }), (err: CliError) => {
    assert.ok(err instanceof CliError);
    assert.match(err.message, pattern);
    return true;
  });

test('hex may have spaces between bytes; RVAs may be hex strings; defaults fill in', async () => {
  const src = await parsePatchSource({
    path: 'p.yaml',
    text: `${base}patchlets:\n  - { kind: in-place, rva: "0x1A", expect: "48 89 E5", write: "90 90 90" }\n  - { kind: detour, rva: 0x40, expect: "e8 00000000", code: "c3" }\n`,
  });
  assert.deepEqual(src.patchlets, [
    { kind: 'in-place', rva: 0x1a, expect: '4889e5', write: '909090' },
    { kind: 'detour', rva: 0x40, expect: 'e800000000', code: 'c3', relocations: [] },
  ]);
  assert.deepEqual([src.description, src.cves, src.release], ['', [], 2]);
});

test('JSON sources work the same', async () => {
  const src = await parsePatchSource({
    path: 'p.json',
    text: JSON.stringify({ id: 'SUT-1', title: 't', severity: 'low', release: 1, patchlets: [{ kind: 'in-place', rva: 1, expect: '90', write: 'cc' }] }),
  });
  assert.equal(src.patchlets[0]!.rva, 1);
});

test('errors name the path of every problem', async () => {
  await rejects(`${base}patchlets:\n  - { kind: in-place, rva: 1, expect: "4", write: 90 }\n`, /patchlets\[0\]\.expect: must be hex bytes.*patchlets\[0\]\.write: must be hex bytes.*quote it in YAML/);
  await rejects(`${base}patchlets:\n  - { kind: in-place, rva: 1, expect: "48 8", write: "90" }\n`, /patchlets\[0\]\.expect: must be hex bytes/);
  await rejects(`${base}patchlets:\n  - { kind: in-place, rva: -1, expect: "90", write: "90", extra: 1 }\n`, /patchlets\[0\]: unknown field extra.*patchlets\[0\]\.rva: must be an RVA/);
  await rejects(`${base}patchlets:\n  - { kind: detour, rva: 1, expect: "90", code: "90", relocations: [{ offset: 0, type: rel16, targetRva: 0 }] }\n`, /patchlets\[0\]\.relocations\[0\]\.type: must be one of "rel32", "abs64"/);
  await rejects(`id: "bad id"\ntitle: t\nseverity: low\ncves: [CVE-1]\npatchlets: []\n`, /missing field release; id: must be a patch id.*cves\[0\]: must be a CVE id.*patchlets: must not have fewer than 1 items/);
  await rejects(`${base}patchlets:\n  - kind: jump\n`, /patchlets\[0\]\.kind: must be "in-place" or "detour"/);
  await rejects(`${base}patchlets:\n  - { kind: detour, rva: 1, expect: "9090909090" }\n`, /patchlets\[0\]: missing field code$/);
  await rejects(`${base}id: again\npatchlets: []\n`, /not valid YAML/);
  await rejects('[1, 2]', /top level must be a mapping/);
  await rejects('{', /p\.json is not valid JSON/, 'p.json');
});

test('shape checks: write length, detour length, relocations inside the code, overlaps', () => {
  const shapes = (patchlets: Patchlet[]) => () => checkPatchletShapes({ patchlets });
  assert.throws(shapes([{ kind: 'in-place', rva: 16, expect: '9090', write: '90' }]), /patchlet 0 \(in-place at RVA 0x10\): write is 1 bytes but expect is 2/);
  assert.throws(shapes([{ kind: 'detour', rva: 16, expect: '90909090', code: 'c3', relocations: [] }]), /at least 5 bytes/);
  const detour = (offset: number, type: 'rel32' | 'abs64'): Patchlet => ({ kind: 'detour', rva: 0, expect: '9090909090', code: '00'.repeat(12), relocations: [{ offset, type, targetRva: 0 }] });
  assert.doesNotThrow(shapes([detour(8, 'rel32')]));
  assert.doesNotThrow(shapes([detour(4, 'abs64')]));
  assert.throws(shapes([detour(9, 'rel32')]), /relocation 0 \(rel32 at code offset 9\) needs 4 bytes but the code is 12 bytes/);
  assert.throws(shapes([detour(5, 'abs64')]), /needs 8 bytes/);
  assert.throws(
    shapes([
      { kind: 'in-place', rva: 0x10, expect: '909090', write: 'cccccc' },
      { kind: 'in-place', rva: 0x12, expect: '90', write: 'cc' },
    ]),
    /patchlets 0 and 1 overlap/,
  );
});
