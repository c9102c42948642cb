import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PatchDocument } from '@suture/shared/schemas';
import type { ProcessModules } from '../inventory/linux-inventory.ts';
import type { AgentState } from '../patching/state-store.ts';
import { inventoryDelta, summarizeHost } from './host-summary.ts';

const LIB = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const proc = (pid: number, shas: string[], startTime = 100n): ProcessModules =>
  ({ pid, startTime, modules: shas.map((sha256, i) => ({ sha256, size: 1, path: i % 2 ? `C:\\Windows\\lib${sha256[0]}.dll` : `/usr/lib/lib${sha256[0]}.so`, base: 0n, format: 'elf', deleted: false })) }) as unknown as ProcessModules;
const doc = (id: string, sha256: string) => ({ id, module: { sha256 } }) as unknown as PatchDocument;
const record = (patchId: string, pid: number, startTime = '100') => ({ patchId, pid, startTime, release: 1, moduleSha256: LIB, engine: 'linux-ptrace' as const, regions: [], at: '' });
const refusal = (patchId: string, pid: number, outcome: 'refused' | 'busy' | 'failed', startTime = '100') => ({ patchId, pid, startTime, outcome, reason: 'x', detail: '', at: '' });

test('modules are counted once per process; each patch counts live processes only, by their last outcome', () => {
  const processes = [proc(1, [LIB, OTHER, LIB]), proc(2, [LIB]), proc(3, [LIB]), proc(4, [LIB]), proc(5, [OTHER]), proc(99, [LIB])];
  const state = {
    applied: [record('P', 1), record('P', 7), record('P', 2, '555')], // pid 7 is gone; pid 2's record is of an earlier process
    refused: [refusal('P', 3, 'busy'), refusal('P', 3, 'refused'), refusal('P', 4, 'failed'), refusal('P', 1, 'busy'), refusal('Q', 2, 'refused')],
    stopped: { Q: 'process 2 died of signal 11 soon after the patch was applied' },
  } as unknown as AgentState;
  const s = summarizeHost({ processes, patches: [doc('P', LIB), doc('Q', OTHER)], state, selfPid: 99 });
  assert.deepEqual(Object.fromEntries(s.modules), { [LIB]: { name: 'liba.so', processes: 5 }, [OTHER]: { name: 'libb.dll', processes: 2 } });
  assert.deepEqual(s.patches, [
    { patchId: 'P', matching: 4, applied: 1, refused: 1, failed: 1 }, // 1 applied (its older busy ignored), 3 refused last, 4 failed, 2 untried; 99 is the agent
    { patchId: 'Q', matching: 2, applied: 0, refused: 0, failed: 0, stopped: 'process 2 died of signal 11 soon after the patch was applied' },
  ]);
});

test('an inventory delta names what changed and removes what is gone', () => {
  const sent = new Map([[LIB, { name: 'liba.so', processes: 2 }], [OTHER, { name: 'libb.so', processes: 1 }]]);
  const now = new Map([[LIB, { name: 'liba.so', processes: 3 }], ['c'.repeat(64), { name: 'libc.so', processes: 1 }]]);
  assert.deepEqual(inventoryDelta(sent, now), [
    { sha256: LIB, name: 'liba.so', processes: 3 },
    { sha256: 'c'.repeat(64), name: 'libc.so', processes: 1 },
    { sha256: OTHER, name: 'libb.so', processes: 0 },
  ]);
  assert.deepEqual(inventoryDelta(now, now), []);
});
