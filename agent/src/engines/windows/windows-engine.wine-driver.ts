/**
 * The Windows half of windows-engine.test.ts: runs inside Wine under the Windows node.exe
 * (bundled by the test with esbuild, koffi left to the win32 build in the wine cache). It
 * drives running PE targets through their command/reply files, uses the real inventory and
 * engine on them, and records what it observed as JSON; the Linux test asserts on that record,
 * so this file decides nothing itself.
 *   node.exe driver.mjs INPUT.json OUTPUT.json
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Patchlet } from '@suture/shared/schemas';
import { createWindowsInventory } from '../../inventory/windows-inventory.ts';
import { applyRequest } from '../../patching/resolve.ts';
import type { AppliedPatch, EngineOutcome } from '../engine.ts';
import { openForPatching, queryMemory, readMemory } from './remote-process.ts';
import { createWindowsEngine } from './windows-engine.ts';

export interface DriverTarget {
  variant: string;
  sha256: string;
  cmdFile: string;
  replyFile: string;
  patchlets: { 'in-place': Patchlet[]; detour: Patchlet[] };
  spin: { rva: number; bytes: string };
}

const [input, output] = process.argv.slice(2) as [string, string];
const targets = (JSON.parse(readFileSync(input, 'utf8')) as { targets: DriverTarget[] }).targets;
const engine = createWindowsEngine({ attempts: 4, backoffMs: 5 });
const record: Record<string, unknown> = { available: engine.available(), node: process.version, targets: {} };
const save = () => writeFileSync(output, JSON.stringify(record, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2));

function commander(t: DriverTarget) {
  let seq = 0;
  return async (cmd: string): Promise<string> => {
    seq++;
    writeFileSync(`${t.cmdFile}.tmp`, `${seq} ${cmd}\n`);
    // Replacing a file fails while the target has it open for its poll: retry briefly.
    for (let tries = 0; ; tries++) {
      try {
        renameSync(`${t.cmdFile}.tmp`, t.cmdFile);
        break;
      } catch (err) {
        if (tries > 500 || !['EPERM', 'EBUSY', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        await sleep(2);
      }
    }
    for (const until = Date.now() + 10_000; Date.now() < until; await sleep(3)) {
      let text = '';
      try {
        text = readFileSync(t.replyFile, 'utf8');
      } catch {
        continue; // being replaced right now
      }
      if (text.startsWith(`${seq} `)) return text.slice(`${seq} `.length).trim();
    }
    return `no reply to ${cmd}`;
  };
}

const summary = (o: EngineOutcome<'applied' | 'unapplied'>) =>
  o.outcome === 'applied' || o.outcome === 'unapplied' ? { outcome: o.outcome, block: o.applied.block, regions: o.applied.regions.length } : o;

async function exercise(t: DriverTarget, rec: Record<string, unknown>) {
  const send = commander(t);
  const scan = await createWindowsInventory().scan();
  rec.processes = scan.processes.length;
  const proc = scan.processes.find((p) => p.modules.some((m) => m.sha256 === t.sha256));
  const mod = proc?.modules.find((m) => m.sha256 === t.sha256);
  if (!proc || !mod) return;
  rec.found = { pid: proc.pid, startTime: proc.startTime, comm: proc.comm, path: mod.path, base: mod.base, imageSize: mod.imageSize, size: mod.size };
  const target = { pid: proc.pid, startTime: proc.startTime };
  const module = { base: mod.base, size: mod.imageSize };
  const memory = (rva: number, n: number) => {
    const h = openForPatching(target.pid, target.startTime);
    try {
      return Buffer.from(readMemory(h, mod.base + BigInt(rva), n)).toString('hex');
    } finally {
      h.close();
    }
  };
  const blockState = (b: AppliedPatch['block']) => {
    if (!b) return undefined;
    const h = openForPatching(target.pid, target.startTime);
    try {
      const r = queryMemory(h, b.address);
      return r && { state: r.state, protect: r.protect, allocationBase: r.allocationBase };
    } finally {
      h.close();
    }
  };
  const protectionAt = (rva: number) => {
    const h = openForPatching(target.pid, target.startTime);
    try {
      return queryMemory(h, mod.base + BigInt(rva))?.protect;
    } finally {
      h.close();
    }
  };
  const codeRva = t.patchlets.detour[0]!.rva;
  rec.before = { probe: await send('16'), normal: await send('5'), code: memory(codeRva, 14), protection: protectionAt(codeRva) };

  for (const style of ['in-place', 'detour'] as const) {
    const s: Record<string, unknown> = {};
    rec[style] = s;
    const out = await engine.apply(applyRequest({ doc: { id: `flaw-${style}`, patchlets: t.patchlets[style] }, process: target, module }));
    s.apply = summary(out);
    if (out.outcome !== 'applied') continue;
    const block = out.applied.block;
    s.blockWhileApplied = blockState(block);
    s.patched = memory(t.patchlets[style][0]!.rva, 5);
    s.protectionWhileApplied = protectionAt(codeRva);
    s.probe = await send('16');
    s.normal = await send('5');
    s.tooLong = await send('17');
    s.unapply = summary(await engine.unapply(out.applied));
    s.blockAfter = blockState(block);
    s.probeAfter = await send('16');
    s.unapplyAgain = summary(await engine.unapply(out.applied));
  }

  const inPlace = t.patchlets['in-place'][0]!;
  const wrongInPlace = { ...inPlace, expect: '7e06' } as Patchlet;
  const wrongDetour = { ...t.patchlets.detour[0]!, expect: '9090909090' } as Patchlet;
  const wrongElsewhere: Patchlet = { kind: 'in-place', rva: t.spin.rva, expect: 'ffff', write: '9090' };
  const before = memory(inPlace.rva - 3, 8);
  rec.wrongExpect = {
    inPlace: summary(await engine.apply(applyRequest({ doc: { id: 'wrong-in-place', patchlets: [wrongInPlace] }, process: target, module }))),
    detour: summary(await engine.apply(applyRequest({ doc: { id: 'wrong-detour', patchlets: [wrongDetour] }, process: target, module }))),
    // One good patchlet and one bad in the same patch: all or nothing.
    mixed: summary(await engine.apply(applyRequest({ doc: { id: 'wrong-mixed', patchlets: [inPlace, wrongElsewhere] }, process: target, module }))),
    memoryBefore: before,
    memoryAfter: memory(inPlace.rva - 3, 8),
    probe: await send('16'),
  };

  const doc = { id: 'flaw-in-place', patchlets: t.patchlets['in-place'] };
  rec.gone = {
    noSuchPid: summary(await engine.apply(applyRequest({ doc, process: { pid: 0x7ffffff0, startTime: 1n }, module }))),
    reusedPid: summary(await engine.apply(applyRequest({ doc, process: { pid: target.pid, startTime: target.startTime + 1n }, module }))),
  };

  // A thread parked inside spin() makes a change there busy; once it leaves, the change goes in.
  const spin: Patchlet = { kind: 'in-place', rva: t.spin.rva, expect: t.spin.bytes, write: t.spin.bytes };
  const spinReq = () => applyRequest({ doc: { id: 'spin-noop', patchlets: [spin] }, process: target, module });
  rec.busy = { spin: await send('spin') };
  const busy = await engine.apply(spinReq());
  Object.assign(rec.busy as object, { whileSpinning: summary(busy), unspin: await send('unspin') });
  const free = await engine.apply(spinReq());
  Object.assign(rec.busy as object, { afterwards: summary(free) });
  if (free.outcome === 'applied') Object.assign(rec.busy as object, { unapply: summary(await engine.unapply(free.applied)) });
  rec.alive = await send('5');
}

for (const t of targets) {
  const rec: Record<string, unknown> = {};
  (record.targets as Record<string, unknown>)[t.variant] = rec;
  const started = Date.now();
  try {
    await exercise(t, rec);
  } catch (err) {
    rec.error = (err as Error).stack ?? String(err);
  }
  rec.ms = Date.now() - started;
  save();
}
record.done = true;
save();
