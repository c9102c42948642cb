/**
 * The Windows inventory for real under Wine: the mingw PE targets run, and the inventory (under
 * the Windows node.exe, see engines/windows/wine-harness.test-helper.ts) must find their
 * processes and modules with the right file hash, base and mapped size.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createWineHarness, wineMissing, type DriverRecord } from '../engines/windows/wine-harness.test-helper.ts';
import { buildPeTargets, type BuiltPeTarget, type PeVariant } from '../test-targets/pe/pe-targets.test-helper.ts';

const skip = wineMissing();
let dir: string;
let built: Record<PeVariant, BuiltPeTarget>;
let harness: ReturnType<typeof createWineHarness> | undefined;
let record: DriverRecord = {};

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'suture-wine-inv-'));
  built = await buildPeTargets(dir);
  harness = createWineHarness(dir);
  await Promise.all([harness.startTarget(built.exe, 'exe'), harness.startTarget(built.dll, 'dll')]);
  ({ record } = await harness.runDriver(join(import.meta.dirname, 'windows-inventory.wine-driver.ts'), { comms: ['target.exe', 'host.exe'] }));
});

after(async () => {
  harness?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const show = (x: unknown) => JSON.stringify(x, null, 1);

describe('windows inventory under Wine', { skip }, () => {
  for (const v of ['exe', 'dll'] as const) {
    test(`${v}: finds the process and the module that holds check_len, with its file hash, base and mapped size`, () => {
      const t = built[v];
      const p = (record.found as DriverRecord[] | undefined)?.find((x) => x.comm.toLowerCase() === basename(t.exe));
      assert.ok(p, `no ${basename(t.exe)} among ${record.processes} processes: ${show(record)}`);
      assert.ok(BigInt(p.startTime) > 116444736000000000n && BigInt(p.startTime) <= BigInt(record.nowFiletime), 'start time is a creation FILETIME');
      const m = p.modules.find((x: DriverRecord) => x.sha256 === t.identity.sha256);
      assert.ok(m, `module ${t.module} not found by hash: ${show(p.modules)}`);
      assert.equal(m.path.split('\\').pop().toLowerCase(), basename(t.module));
      assert.equal(m.size, t.identity.size);
      assert.equal(m.format, 'pe');
      // The base is where the image really is: its headers are there, and say the size we report.
      assert.deepEqual(m.header, { mz: 'MZ', pe: 'PE\0\0', sizeOfImage: m.imageSize });
      assert.equal(m.imageSize, t.identity.pe?.sizeOfImage, 'mapped size matches SizeOfImage from the file');
      const names = p.modules.map((x: DriverRecord) => x.path.split('\\').pop().toLowerCase());
      assert.ok(names.includes('kernel32.dll') && names.includes('ntdll.dll'), `system DLLs listed: ${names}`);
    });
  }

  test('a process that does not exist is no entry; a re-scan names the same process', () => {
    assert.equal(record.noSuchPid, null);
    assert.equal(record.rescanOfFirst, (record.found as DriverRecord[])[0]?.startTime);
    console.log(`# scan: ${record.processes} processes (${record.skipped} skipped) in ${record.scanMs} ms, re-scan ${record.rescanMs} ms`);
  });
});
