/**
 * The engine conformance suite: every case runs on every engine that can run on this machine,
 * against real gcc-built targets with a real off-by-one (see test-targets/target.c). The
 * Windows engine runs its own copy of these cases under Wine (windows/windows-engine.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLinuxInventory } from '../inventory/linux-inventory.ts';
import { readProcess } from '../inventory/processes.ts';
import { applyRequest } from '../patching/resolve.ts';
import { buildElfTargets, ELF_VARIANTS, FIXED, FLAWED, flawPatchlets, gccMissing, NORMAL, startTarget, type BuiltTarget, type ElfVariant, type RunningTarget } from '../test-targets/elf-targets.test-helper.ts';
import type { AppliedPatch, Engine } from './engine.ts';
import { availableEngines } from './registry.ts';

const noGcc = gccMissing();
let dir: string;
let targets: Record<ElfVariant, BuiltTarget>;
const running: RunningTarget[] = [];

before(async () => {
  if (noGcc) return;
  dir = await mkdtemp(join(tmpdir(), 'suture-conformance-'));
  targets = await buildElfTargets(dir);
});
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function start(variant: ElfVariant, opts: { threads?: number; env?: Record<string, string> } = {}) {
  const t = targets[variant];
  const r = await startTarget({ ...t, env: { ...t.env, ...opts.env } }, opts);
  running.push(r);
  if (variant === 'dlopen') assert.equal(await r.send('load'), 'loaded');
  return r;
}

/** The request for `style` against the module as the inventory finds it in the running process. */
async function requestFor(r: RunningTarget, variant: ElfVariant, style: 'in-place' | 'detour', patchlets = flawPatchlets(targets[variant].checkLenRva)[style]) {
  const p = await createLinuxInventory().scanProcess(r.pid);
  assert.ok(p, `process ${r.pid} is running`);
  const m = p.modules.find((x) => x.sha256 === targets[variant].identity.sha256);
  assert.ok(m, `the inventory finds ${targets[variant].module} in process ${r.pid}`);
  return applyRequest({ doc: { id: `flaw-${style}`, patchlets }, process: { pid: r.pid, startTime: p.startTime }, module: m });
}

async function applied(engine: Engine, req: Awaited<ReturnType<typeof requestFor>>): Promise<AppliedPatch> {
  const out = await engine.apply(req);
  assert.equal(out.outcome, 'applied', JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)));
  return (out as { applied: AppliedPatch }).applied;
}

for (const { engine, skip } of availableEngines()) {
  const skipped = noGcc ?? skip;
  describe(`engine ${engine.name}`, { skip: skipped }, () => {
    for (const variant of ELF_VARIANTS) {
      for (const style of ['in-place', 'detour'] as const) {
        test(`${variant}, ${style}: flaw there, apply removes it, normal input works, unapply brings it back`, async () => {
          const r = await start(variant);
          assert.equal(await r.probe(), FLAWED, 'the flaw is there');
          const a = await applied(engine, await requestFor(r, variant, style));
          assert.equal(await r.probe(), FIXED, 'the flaw is gone');
          assert.equal(await r.send('5'), NORMAL, 'normal input still works');
          assert.equal(await r.send('17'), FIXED, 'too long is still refused');
          if (style === 'detour') assert.ok(a.block, 'a detour block was mapped');
          const back = await engine.unapply(a);
          assert.equal(back.outcome, 'unapplied');
          assert.equal(await r.probe(), FLAWED, 'unapplied: the original code runs again');
          await r.stop();
        });
      }
    }

    test('wrong expect bytes are refused and nothing is written, in either style', async () => {
      const r = await start('pie');
      const { 'in-place': [inPlace], detour: [detour] } = flawPatchlets(targets.pie.checkLenRva);
      for (const wrong of [{ ...inPlace!, expect: '7e06' }, { ...detour!, expect: '83ff107f07' }]) {
        const out = await engine.apply(await requestFor(r, 'pie', 'in-place', [wrong]));
        assert.equal(out.outcome === 'refused' && out.reason, 'unexpected-bytes', out.outcome);
        assert.equal(await r.probe(), FLAWED, 'nothing was written');
      }
      const blocks = (await readFile(`/proc/${r.pid}/maps`, 'utf8')).split('\n').filter((l) => / r-xp 00000000 00:00 0\s*$/.test(l));
      assert.deepEqual(blocks, [], 'no detour block left behind');
      await r.stop();
    });

    test('unapply refuses when our bytes are no longer there', async () => {
      const r = await start('pie');
      const a = await applied(engine, await requestFor(r, 'pie', 'in-place'));
      const foreign = { ...a, regions: a.regions.map((g) => ({ ...g, written: Uint8Array.from([0x7c, 0x06]) })) };
      const out = await engine.unapply(foreign);
      assert.equal(out.outcome === 'refused' && out.reason, 'unexpected-bytes');
      assert.equal(await r.probe(), FIXED, 'nothing was restored');
      await r.stop();
    });

    test('multi-patchlet patches go in and out together', async () => {
      const r = await start('shared');
      const rva = targets.shared.checkLenRva;
      // Two patchlets: the jg fix and a no-op rewrite of the accept path (mov $1,%eax -> same bytes with a different encoding would change size; rewrite the imm32 to 1 again as a second region).
      const two = [...flawPatchlets(rva)['in-place'], { kind: 'in-place' as const, rva: rva + 5, expect: 'b801000000', write: 'b801000000' }];
      const a = await applied(engine, await requestFor(r, 'shared', 'in-place', two));
      assert.equal(a.regions.length, 2);
      assert.equal(await r.probe(), FIXED);
      assert.equal((await engine.unapply(a)).outcome, 'unapplied');
      assert.equal(await r.probe(), FLAWED);
      await r.stop();
    });

    test('the same library in several processes at different bases: every one is patched', async () => {
      const rs = await Promise.all([start('shared'), start('shared'), start('shared')]);
      const reqs = await Promise.all(rs.map((r) => requestFor(r, 'shared', 'detour')));
      assert.equal(new Set(reqs.map((q) => q.module.base)).size, 3, 'three different load addresses');
      const as = [];
      for (const q of reqs) as.push(await applied(engine, q));
      for (const r of rs) assert.equal(await r.probe(), FIXED);
      for (const a of as) assert.equal((await engine.unapply(a)).outcome, 'unapplied');
      for (const r of rs) assert.equal(await r.probe(), FLAWED);
      await Promise.all(rs.map((r) => r.stop()));
    });

    test('a traced process is refused; a dead one, or a reused pid, is a clean refusal', async () => {
      const r = await start('pie');
      const req = await requestFor(r, 'pie', 'detour');
      const tracer = await import('./linux-ptrace/ptrace.ts');
      tracer.seizeAndStop(r.pid);
      try {
        const out = await engine.apply(req);
        assert.equal(out.outcome === 'refused' && out.reason, 'already-traced');
      } finally {
        tracer.detach(r.pid);
      }
      const reused = await engine.apply({ ...req, process: { pid: r.pid, startTime: req.process.startTime + 1n } });
      assert.equal(reused.outcome === 'refused' && reused.reason, 'gone', 'another start time: another process');
      await r.stop();
      const out = await engine.apply(req);
      assert.equal(out.outcome === 'refused' && out.reason, 'gone');
    });

    test('processes that die while being patched give clean outcomes and nothing is left stopped', async () => {
      const outcomes = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const r = await start('pie', { threads: 4 });
        const req = await requestFor(r, 'pie', i % 2 ? 'detour' : 'in-place');
        const killer = setTimeout(() => r.child.kill('SIGKILL'), i % 4);
        const out = await engine.apply(req);
        clearTimeout(killer);
        outcomes.add(out.outcome === 'refused' ? `refused:${out.reason}` : out.outcome);
        assert.ok(['applied', 'refused'].includes(out.outcome), `${out.outcome}: ${JSON.stringify((out as { detail?: string }).detail)}`);
        if (out.outcome === 'refused') assert.equal(out.reason, 'gone');
        await r.stop();
        assert.equal(await readProcess(r.pid), undefined, 'the process is gone, not held');
      }
      assert.ok(outcomes.size >= 1);
    });

    test('a process under a seccomp filter: in-place works, a detour is refused as unsafe', async () => {
      const r = await start('pie', { env: { SECCOMP: '1' } });
      const out = await engine.apply(await requestFor(r, 'pie', 'detour'));
      assert.equal(out.outcome === 'refused' && out.reason, 'unsafe', JSON.stringify(out));
      assert.equal(await r.probe(), FLAWED, 'nothing was written');
      await engine.unapply(await applied(engine, await requestFor(r, 'pie', 'in-place')));
      await r.stop();
    });

    test('torture: 8 threads call the function while it is applied and unapplied 1,000 times', async () => {
      const r = await start('pie', { threads: 8 });
      const reqs = { 'in-place': await requestFor(r, 'pie', 'in-place'), detour: await requestFor(r, 'pie', 'detour') };
      for (let i = 0; i < 1000; i++) {
        const a = await applied(engine, reqs[i % 2 ? 'detour' : 'in-place']);
        const u = await engine.unapply(a);
        assert.equal(u.outcome, 'unapplied', u.outcome === 'unapplied' ? '' : u.detail);
      }
      const stats = /^calls=(\d+) anomalies=(\d+)$/.exec(await r.send('stats'));
      assert.ok(stats, 'the target still answers');
      assert.ok(Number(stats[1]) > 1000, `the threads kept calling (${stats[1]} calls)`);
      assert.equal(Number(stats[2]), 0, 'every call returned the old or the new result');
      assert.equal(await r.probe(), FLAWED);
      await r.stop();
    });
  });
}
