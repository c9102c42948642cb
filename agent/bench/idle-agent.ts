/**
 * The agent at rest, for the idle-RSS figure of engine.bench.ts: loads the inventory and the
 * linux-ptrace engine (koffi and libc included), scans once, then re-scans every 2 s as the
 * agent does. One JSON line on stdout per scan; SIGTERM stops it.
 */
import { createLinuxPtraceEngine } from '../src/engines/linux-ptrace/linux-ptrace-engine.ts';
import { createLinuxInventory } from '../src/inventory/linux-inventory.ts';

const INTERVAL_MS = 2000;
const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;

const engine = createLinuxPtraceEngine();
const available = engine.available();
if (!available.ok) throw new Error(available.why);
const inventory = createLinuxInventory();

async function scanOnce(event: 'ready' | 'scan') {
  const t0 = performance.now();
  const { processes, skipped } = await inventory.scan();
  const m = process.memoryUsage();
  const line = { event, ms: Math.round((performance.now() - t0) * 10) / 10, processes: processes.length, skipped, rss_mb: mb(m.rss), heap_used_mb: mb(m.heapUsed), heap_total_mb: mb(m.heapTotal), external_mb: mb(m.external) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

await scanOnce('ready');
let running = false;
const timer = setInterval(() => {
  if (running) return; // a slow scan is never overlapped by the next one
  running = true;
  scanOnce('scan').finally(() => (running = false));
}, INTERVAL_MS);
process.once('SIGTERM', () => clearInterval(timer));
