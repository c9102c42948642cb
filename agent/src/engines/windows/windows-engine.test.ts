/**
 * The Windows engine and inventory for real, under Wine: mingw-built PE targets with a real
 * off-by-one run under wine, and windows-engine.wine-driver.ts runs under the Windows node.exe
 * with the win32 koffi (both installed by scripts/wine-setup.sh), patching them through kernel32.
 * The driver records what it saw; the assertions are here. One persistent wineserver serves the
 * whole file and is killed at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildPeTargets, FIXED, FLAWED, NORMAL, PE_VARIANTS, type BuiltPeTarget, type PeVariant } from '../../test-targets/pe/pe-targets.test-helper.ts';
import { createWindowsEngine } from './windows-engine.ts';
import type { DriverTarget } from './windows-engine.wine-driver.ts';
import { createWineHarness, wineMissing, type DriverRecord } from './wine-harness.test-helper.ts';

const skip = wineMissing();
let dir: string;
let built: Record<PeVariant, BuiltPeTarget>;
let harness: ReturnType<typeof createWineHarness> | undefined;
type Rec = DriverRecord;
let record: Rec = {};
let driverMs = 0;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'suture-wine-'));
  built = await buildPeTargets(dir);
  harness = createWineHarness(dir);
  const targets: DriverTarget[] = await Promise.all(
    PE_VARIANTS.map(async (v) => {
      const t = built[v];
      return { variant: v, sha256: t.identity.sha256, ...(await harness!.startTarget(t, v)), patchlets: t.patchlets, spin: t.spin };
    }),
  );
  ({ record, ms: driverMs } = await harness.runDriver(join(import.meta.dirname, 'windows-engine.wine-driver.ts'), { targets }));
});

after(async () => {
  harness?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('on Linux the engine says it is not available, and why', { skip: process.platform === 'win32' && 'this is Windows' }, () => {
  const a = createWindowsEngine().available();
  assert.equal(a.ok, false);
  assert.match(!a.ok ? a.why : '', /x64 Windows/);
});

const show = (x: unknown) => JSON.stringify(x, null, 1);
const outcome = (x: Rec | undefined) => x?.outcome + (x?.reason ? `:${x.reason}` : '');

describe('windows engine under Wine', { skip }, () => {
  test('the driver ran to the end under the Windows node.exe with koffi reaching kernel32', () => {
    assert.deepEqual(record.available, { ok: true }, show(record));
    assert.equal(record.done, true, `driver did not finish (exit ${record.exitCode}): ${record.log}`);
    assert.match(record.node, /^v22\./);
    console.log(`# driver: ${driverMs} ms (${PE_VARIANTS.map((v) => `${v} ${record.targets[v]?.ms} ms`).join(', ')})`);
  });

  for (const v of PE_VARIANTS) {
    const rec = () => record.targets[v] as Rec;

    test(`${v}: the inventory finds the process, the module file and its base`, () => {
      const r = rec();
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.found, `no process has ${basename(built[v].module)} loaded: ${show(r)}`);
      assert.equal(r.found.path.split('\\').pop().toLowerCase(), basename(built[v].module));
      assert.equal(r.found.size, built[v].identity.size);
      assert.equal(BigInt(r.found.base) % 0x10000n, 0n, 'modules load at 64 KiB boundaries');
      assert.ok(r.found.imageSize >= 0x1000);
      assert.equal(r.found.comm.toLowerCase(), basename(built[v].exe));
      assert.ok(BigInt(r.found.startTime) > 116444736000000000n, 'creation FILETIME after 1970');
    });

    test(`${v}: the flaw is there before any patch`, () => {
      assert.equal(rec().before?.probe, FLAWED);
      assert.equal(rec().before?.normal, NORMAL);
      // The code at base + RVA (RVA from mingw's nm) is check_len: the inventory's base is right.
      assert.equal(rec().before.code, '83f9107f06b801000000c331c0c3');
    });

    for (const style of ['in-place', 'detour'] as const) {
      test(`${v}, ${style}: apply removes the flaw, normal input works, unapply brings it back`, () => {
        const s = rec()[style] as Rec;
        assert.equal(outcome(s?.apply), 'applied', show(s));
        assert.equal(s.probe, FIXED, 'the flaw is gone');
        assert.equal(s.protectionWhileApplied, rec().before.protection, 'the code page has its old protection back');
        assert.equal(rec().before.protection, 0x20, 'code is PAGE_EXECUTE_READ');
        assert.equal(s.normal, NORMAL, 'normal input still works');
        assert.equal(s.tooLong, FIXED, 'too long is still refused');
        assert.equal(outcome(s.unapply), 'unapplied', show(s));
        assert.equal(s.probeAfter, FLAWED, 'unapplied: the original code runs again');
        assert.equal(outcome(s.unapplyAgain), 'refused:unexpected-bytes', 'our bytes are gone, so a second unapply refuses');
        if (style === 'in-place') {
          assert.equal(s.patched.slice(0, 4), '7d06');
          assert.equal(s.apply.block, undefined);
          return;
        }
        assert.equal(s.patched.slice(0, 2), 'e9', 'the patched instructions became jmp rel32');
        const at = BigInt(s.apply.block.address);
        assert.equal(at % 0x10000n, 0n, 'the block is at the allocation granularity');
        const distance = at > BigInt(rec().found.base) ? at - BigInt(rec().found.base) : BigInt(rec().found.base) - at;
        assert.ok(distance < 2n ** 31n, 'the block is within rel32 reach of the module');
        assert.deepEqual(s.blockWhileApplied, { state: 0x1000, protect: 0x20, allocationBase: s.apply.block.address }, 'committed and PAGE_EXECUTE_READ, never writable');
        assert.equal(s.blockAfter?.state, 0x10000, 'unapply released the block (MEM_FREE)');
      });
    }

    test(`${v}: wrong expect bytes are refused and nothing is written, all or nothing`, () => {
      const w = rec().wrongExpect as Rec;
      assert.equal(outcome(w?.inPlace), 'refused:unexpected-bytes', show(w));
      assert.equal(outcome(w.detour), 'refused:unexpected-bytes', show(w));
      assert.equal(outcome(w.mixed), 'refused:unexpected-bytes', show(w));
      assert.equal(w.memoryAfter, w.memoryBefore);
      assert.equal(w.memoryBefore.slice(0, 10), '83f9107f06');
      assert.equal(w.probe, FLAWED);
    });

    test(`${v}: a pid that does not exist, or names another process, is refused as gone`, () => {
      assert.equal(outcome(rec().gone?.noSuchPid), 'refused:gone', show(rec().gone));
      assert.equal(outcome(rec().gone?.reusedPid), 'refused:gone', show(rec().gone));
    });

    test(`${v}: a thread executing inside the region makes the change busy; it goes in once the thread left`, () => {
      const b = rec().busy as Rec;
      assert.equal(b?.spin, 'spinning', show(b));
      assert.equal(outcome(b.whileSpinning), 'busy', show(b));
      assert.match(b.whileSpinning.detail, /inside a region/);
      assert.equal(outcome(b.afterwards), 'applied', show(b));
      assert.equal(outcome(b.unapply), 'unapplied', show(b));
      assert.equal(rec().alive, NORMAL, 'the target still runs and answers');
    });
  }
});
