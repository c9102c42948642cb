/** Inventory of real processes: a program linked against a library built here. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesAtRva, parseModule } from '@suture/shared/modules';
import { addressOf, createLinuxInventory } from './linux-inventory.ts';

const LIB = `__attribute__((noinline)) int check_len(int n) { return n <= 16; }\n`;
const MAIN = `#include <stdio.h>\n#include <unistd.h>\nint check_len(int);\nint main(void) { printf("ready %d\\n", check_len(3)); fflush(stdout); for (;;) pause(); }\n`;

let dir: string;
let procs: ChildProcess[] = [];
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

async function startTarget(): Promise<ChildProcess> {
  const child = spawn(join(dir, 'target'), [], { env: { LD_LIBRARY_PATH: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(child);
  await new Promise<void>((res, rej) => {
    child.stdout!.once('data', () => res());
    child.once('exit', (c) => rej(new Error(`target exited ${c}`)));
  });
  return child;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'suture-inv-'));
  execFileSync('gcc', ['-O1', '-shared', '-fPIC', '-o', join(dir, 'libflaw.so'), '-x', 'c', '-'], { input: LIB });
  execFileSync('gcc', ['-O1', '-o', join(dir, 'target'), '-x', 'c', '-', `-L${dir}`, '-lflaw'], { input: MAIN });
});
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

test('finds the library in every process that maps it, at its load base, and RVAs map to the bytes in memory', async () => {
  const a = await startTarget();
  const b = await startTarget();
  const inv = createLinuxInventory();
  const libSha = await sha(join(dir, 'libflaw.so'));
  const bytes = new Uint8Array(await readFile(join(dir, 'libflaw.so')));
  const parsed = parseModule(bytes);
  const nm = execFileSync('nm', [join(dir, 'libflaw.so')], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(' check_len'))!;
  const rva = parseInt(nm.split(' ')[0]!, 16) - parsed.minVaddr;
  const expected = bytesAtRva(parsed, bytes, rva, 8)!;
  for (const child of [a, b]) {
    const p = await inv.scanProcess(child.pid!);
    assert.ok(p, 'process scanned');
    const lib = p.modules.find((m) => m.sha256 === libSha);
    assert.ok(lib, `libflaw.so not among ${p.modules.map((m) => m.path).join(', ')}`);
    assert.equal(lib.format, 'elf');
    assert.ok(p.modules.some((m) => m.path.endsWith('/target')), 'the executable itself is listed');
    const mem = await open(`/proc/${child.pid}/mem`, 'r');
    const buf = Buffer.alloc(8);
    await mem.read(buf, 0, 8, Number(addressOf(lib, rva)));
    await mem.close();
    assert.deepEqual(new Uint8Array(buf), expected);
  }
});

test('a re-scan hashes nothing again; a whole-system scan survives processes it cannot read', async () => {
  const inv = createLinuxInventory();
  const first = await inv.scan();
  const hashed = inv.hashCache.hashedCount;
  assert.ok(first.processes.length > 2 && hashed > 0);
  // The same processes again (new ones may start meanwhile on a busy machine and bring new files).
  for (const p of first.processes) await inv.scanProcess(p.pid);
  assert.equal(inv.hashCache.hashedCount, hashed);
});

test('a library replaced on disk after it was mapped is identified by what is mapped', async () => {
  const child = await startTarget();
  const oldSha = await sha(join(dir, 'libflaw.so'));
  execFileSync('gcc', ['-O0', '-shared', '-fPIC', '-o', join(dir, 'libflaw.new'), '-x', 'c', '-'], { input: `${LIB}int extra(void){return 1;}\n` });
  await rename(join(dir, 'libflaw.new'), join(dir, 'libflaw.so'));
  assert.notEqual(await sha(join(dir, 'libflaw.so')), oldSha);
  const p = await createLinuxInventory().scanProcess(child.pid!);
  const lib = p!.modules.find((m) => m.path.includes('libflaw.so'));
  assert.ok(lib);
  assert.equal(lib.sha256, oldSha);
  assert.equal(lib.deleted, true);
});

test('a process that is gone yields nothing, not an error', async () => {
  const child = await startTarget();
  const pid = child.pid!;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(await createLinuxInventory().scanProcess(pid), undefined);
});
