/** The in-place engine against a real running process with a real off-by-one. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLinuxInventory, addressOf } from '../../inventory/linux-inventory.ts';
import { changeRegions, type Region } from './in-place.ts';
import { ptraceAvailable, seizeAndStop, detach } from './ptrace.ts';

// check_len(16) should be 0 for a 16-byte buffer; the flaw makes it 1.
const SRC = `#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) int check_len(int n) { return n <= 16; }
volatile int len = 16; /* read every time, so the call is not hoisted out of the loop */
int main(void) { setvbuf(stdout, NULL, _IONBF, 0); for (;;) { printf("%d\\n", check_len(len)); usleep(20000); } }
`;
const available = ptraceAvailable();
let dir: string;
const children: ChildProcess[] = [];
let flaw: { rva: number; bytes: Uint8Array };

async function startTarget() {
  const child = spawn(join(dir, 'target'), [], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let last = '';
  child.stdout!.on('data', (d: Buffer) => (last = d.toString().trim().split('\n').pop() ?? last));
  while (!last) await sleep(10);
  return { child, latest: async () => { last = ''; while (!last) await sleep(5); return last; } };
}

async function regionFor(pid: number, to: Uint8Array, from = flaw.bytes): Promise<Region> {
  const p = await createLinuxInventory().scanProcess(pid);
  const exe = p!.modules.find((m) => m.path.endsWith('/target'))!;
  return { address: addressOf(exe, flaw.rva), from, to };
}
const state = async (pid: number) => (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]![0];
const setl = () => Uint8Array.from([...flaw.bytes.slice(0, 1), 0x9c, ...flaw.bytes.slice(2)]);

before(async () => {
  if (!available.ok) return;
  dir = await mkdtemp(join(tmpdir(), 'suture-ptrace-'));
  execFileSync('gcc', ['-O1', '-fPIE', '-pie', '-o', join(dir, 'target'), '-x', 'c', '-'], { input: SRC });
  const fn = execFileSync('objdump', ['-d', join(dir, 'target')], { encoding: 'utf8' }).split('\n\n').find((b) => b.includes('<check_len>:'))!;
  const line = fn.split('\n').find((l) => /\tsetle\s/.test(l))!;
  const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t/.exec(line)!;
  flaw = { rva: parseInt(m[1]!, 16), bytes: Uint8Array.from(Buffer.from(m[2]!.replace(/ /g, ''), 'hex')) };
  assert.equal(flaw.bytes[1], 0x9e, 'setle is 0f 9e');
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('apply removes the flaw in the running process, unapply brings it back, the process never stays stopped', { skip: !available.ok && available.why }, async () => {
  const t = await startTarget();
  const pid = t.child.pid!;
  assert.equal(await t.latest(), '1', 'the flaw is there');
  const region = await regionFor(pid, setl());
  assert.deepEqual(await changeRegions({ pid, regions: [region] }), { outcome: 'done' });
  assert.notEqual(await state(pid), 't');
  await t.latest();
  assert.equal(await t.latest(), '0', 'the flaw is gone');
  assert.deepEqual(await changeRegions({ pid, regions: [{ ...region, from: region.to, to: region.from }] }), { outcome: 'done' });
  await t.latest();
  assert.equal(await t.latest(), '1', 'unapplied: the original code runs again');
});

test('wrong expected bytes are refused and nothing is written', { skip: !available.ok && available.why }, async () => {
  const t = await startTarget();
  const pid = t.child.pid!;
  const region = await regionFor(pid, setl(), Uint8Array.from([0x90, 0x90, 0x90]));
  const r = await changeRegions({ pid, regions: [region] });
  assert.equal(r.outcome, 'refused');
  assert.equal(r.outcome === 'refused' && r.reason, 'unexpected-bytes');
  const mem = await open(`/proc/${pid}/mem`, 'r');
  const buf = Buffer.alloc(flaw.bytes.length);
  await mem.read(buf, 0, buf.length, Number(region.address));
  await mem.close();
  assert.deepEqual(new Uint8Array(buf), flaw.bytes);
  assert.equal(await t.latest(), '1');
});

test('a process already being traced is refused; a dead one is a clean refusal', { skip: !available.ok && available.why }, async () => {
  const t = await startTarget();
  const pid = t.child.pid!;
  const region = await regionFor(pid, setl());
  seizeAndStop(pid); // we are now its tracer
  try {
    const r = await changeRegions({ pid, regions: [region] });
    assert.equal(r.outcome === 'refused' && r.reason, 'already-traced');
  } finally {
    detach(pid);
  }
  t.child.kill('SIGKILL');
  await new Promise((res) => t.child.once('exit', res));
  const r = await changeRegions({ pid, regions: [region] });
  assert.equal(r.outcome === 'refused' && r.reason, 'gone');
});
