/**
 * The Windows half of windows-inventory.test.ts, run under Wine by the Windows node.exe (see
 * engines/windows/wine-harness.test-helper.ts): scans with the real inventory and reads each
 * found module's PE header at its reported base, so the Linux side can check base and size
 * against the file. Records only; the assertions are in the test.
 *   node.exe driver.mjs INPUT.json OUTPUT.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { openForPatching, readMemory } from '../engines/windows/remote-process.ts';
import { createWindowsInventory, type WindowsModule } from './windows-inventory.ts';

const [input, output] = process.argv.slice(2) as [string, string];
const { comms } = JSON.parse(readFileSync(input, 'utf8')) as { comms: string[] };
const inventory = createWindowsInventory();

/** MZ, PE signature and SizeOfImage as they are in the process's memory at `m.base`. */
function headerInMemory(pid: number, startTime: bigint, m: WindowsModule) {
  const h = openForPatching(pid, startTime);
  try {
    const dos = Buffer.from(readMemory(h, m.base, 64));
    const lfanew = dos.readUInt32LE(0x3c);
    const nt = Buffer.from(readMemory(h, m.base + BigInt(lfanew), 24 + 64));
    return { mz: dos.toString('latin1', 0, 2), pe: nt.toString('latin1', 0, 4), sizeOfImage: nt.readUInt32LE(24 + 56) };
  } finally {
    h.close();
  }
}

const started = Date.now();
const scan = await inventory.scan();
const scanMs = Date.now() - started;
const again = Date.now();
await inventory.scan();
const rescanMs = Date.now() - again;
const found = scan.processes
  .filter((p) => comms.includes(p.comm.toLowerCase()))
  .map((p) => ({
    pid: p.pid,
    startTime: p.startTime,
    comm: p.comm,
    modules: p.modules.map((m) => ({ ...m, header: m.path.toLowerCase().endsWith('.exe') || m.path.toLowerCase().includes('flawed') ? headerInMemory(p.pid, p.startTime, m) : undefined })),
  }));
const record = {
  processes: scan.processes.length,
  skipped: scan.skipped,
  scanMs,
  rescanMs,
  found,
  rescanOfFirst: found[0] ? (await inventory.scanProcess(found[0].pid))?.startTime : undefined,
  noSuchPid: (await inventory.scanProcess(0x7ffffff0)) ?? null,
  nowFiletime: (BigInt(Date.now()) + 11644473600000n) * 10000n,
};
writeFileSync(output, JSON.stringify(record, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2));
