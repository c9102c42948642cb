/**
 * The engine worker (see isolated-engine.ts): runs one engine operation at a time for the agent
 * over IPC. When the agent disconnects (it exited or was killed), the operation in progress is
 * finished and then the worker exits.
 */
import type { Engine, EngineName } from './engine.ts';
import { createLinuxPtraceEngine } from './linux-ptrace/linux-ptrace-engine.ts';
import { createWindowsEngine } from './windows/windows-engine.ts';

const engines: Partial<Record<EngineName, () => Engine>> = { 'linux-ptrace': createLinuxPtraceEngine, windows: createWindowsEngine };
const name = process.argv[2] as EngineName;
const create = engines[name];
if (!create) {
  console.error(`engine-worker: unknown engine ${name}`);
  process.exit(2);
}
const engine = create();
let chain: Promise<unknown> = Promise.resolve();

process.on('message', (m: { id: number; op: 'apply' | 'unapply'; arg: never }) => {
  chain = chain.then(async () => {
    const result = await (m.op === 'apply' ? engine.apply(m.arg) : engine.unapply(m.arg));
    if (process.connected) process.send!({ id: m.id, result });
  });
});
process.on('disconnect', () => {
  void chain.finally(() => process.exit(0));
});
