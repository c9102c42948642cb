/** A thread executing inside the region makes the change wait, then report busy; it goes through once the thread leaves. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { addressOf, createLinuxInventory } from '../../inventory/linux-inventory.ts';
import { createLinuxPtraceEngine } from './linux-ptrace-engine.ts';
import { ptraceAvailable } from './ptrace.ts';

const SRC = `#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
volatile sig_atomic_t stop = 0;
static void on_usr1(int s) { (void)s; stop = 1; }
__attribute__((noinline)) void spin(void) { while (!stop) { } }
static void *worker(void *a) { (void)a; spin(); for (;;) pause(); return 0; }
int main(void) {
  signal(SIGUSR1, on_usr1);
  pthread_t t; pthread_create(&t, 0, worker, 0);
  printf("ready\\n"); fflush(stdout);
  for (;;) pause();
}
`;
const available = ptraceAvailable();
let dir: string | undefined;
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('busy while a thread runs inside the region, done once it has left', { skip: !available.ok && available.why }, async () => {
  dir = await mkdtemp(join(tmpdir(), 'suture-busy-'));
  execFileSync('gcc', ['-O1', '-pthread', '-o', join(dir, 'spin'), '-x', 'c', '-'], { input: SRC });
  const nm = execFileSync('nm', ['-S', join(dir, 'spin')], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(' spin'))!;
  const [value, size] = nm.split(' ');
  const child = spawn(join(dir, 'spin'), [], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    await sleep(50);
    const p = await createLinuxInventory().scanProcess(child.pid!);
    const exe = p!.modules.find((m) => m.path.endsWith('/spin'))!;
    const address = addressOf(exe, parseInt(value!, 16));
    const len = parseInt(size!, 16);
    const fh = await open(`/proc/${child.pid}/mem`, 'r');
    const bytes = Buffer.alloc(len);
    await fh.read(bytes, 0, len, Number(address));
    await fh.close();
    // The whole of spin() is the region: the worker is always inside it.
    const req = { process: { pid: child.pid!, startTime: p!.startTime }, patchId: 'spin', module: { base: exe.base, end: exe.base + BigInt(exe.size) }, patchlets: [{ kind: 'in-place' as const, address, expect: new Uint8Array(bytes), write: new Uint8Array(bytes) }] };
    const busy = await createLinuxPtraceEngine({ attempts: 4, backoffMs: 1 }).apply(req);
    assert.equal(busy.outcome, 'busy');
    assert.match(busy.outcome === 'busy' ? busy.detail : '', /inside a region/);
    child.kill('SIGUSR1');
    await sleep(50);
    assert.equal((await createLinuxPtraceEngine().apply(req)).outcome, 'applied');
    assert.equal(child.exitCode, null, 'the target is still running');
  } finally {
    child.kill('SIGKILL');
  }
});
