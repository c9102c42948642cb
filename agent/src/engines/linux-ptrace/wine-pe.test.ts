/**
 * The linux-ptrace engine patches Windows code running under Wine on Linux: the Linux inventory
 * sees the PE images Wine maps, and the same micropatches (in-place and detour) go in and out of
 * mingw-w64 EXE and DLL targets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLinuxInventory } from '../../inventory/linux-inventory.ts';
import { applyRequest } from '../../patching/resolve.ts';
import { buildPeTargets, FIXED, FLAWED, mingwMissing, NORMAL, PE_VARIANTS, type BuiltPeTarget, type PeVariant } from '../../test-targets/pe/pe-targets.test-helper.ts';
import { createWineHarness, wineMissing } from '../windows/wine-harness.test-helper.ts';
import { createLinuxPtraceEngine } from './linux-ptrace-engine.ts';
import { ptraceAvailable } from './ptrace.ts';

const available = ptraceAvailable();
const skip = mingwMissing() ?? wineMissing() ?? (available.ok ? false : available.why);
let dir: string;
let targets: Record<PeVariant, BuiltPeTarget>;
let harness: ReturnType<typeof createWineHarness> | undefined;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'suture-wine-ptrace-'));
  targets = await buildPeTargets(dir);
  harness = createWineHarness(dir);
});
after(async () => {
  harness?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('linux-ptrace on PE code under Wine', { skip }, () => {
  for (const variant of PE_VARIANTS) {
    test(`${variant}: found by the Linux inventory, patched in place and by detour, unpatched`, async () => {
      const t = targets[variant];
      const { send } = await harness!.startTarget(t, `pt-${variant}`);
      assert.equal(await send('16'), FLAWED, 'the flaw is there');
      const { processes } = await createLinuxInventory().scan();
      const hits = processes.flatMap((p) => p.modules.filter((m) => m.sha256 === t.identity.sha256).map((m) => ({ p, m })));
      assert.equal(hits.length, 1, `one Wine process maps ${t.module}`);
      const { p, m } = hits[0]!;
      assert.equal(m.format, 'pe');
      const engine = createLinuxPtraceEngine();
      for (const style of ['in-place', 'detour'] as const) {
        const out = await engine.apply(applyRequest({ doc: { id: `wine-${style}`, patchlets: t.patchlets[style] }, process: { pid: p.pid, startTime: p.startTime }, module: m }));
        if (out.outcome !== 'applied') assert.fail(`${style}: ${out.outcome}: ${out.detail}`);
        assert.equal(await send('16'), FIXED, `${style}: the flaw is gone`);
        assert.equal(await send('5'), NORMAL);
        const back = await engine.unapply(out.applied);
        assert.equal(back.outcome, 'unapplied');
        assert.equal(await send('16'), FLAWED, `${style}: unapplied`);
      }
      await send('quit');
    });
  }
});
