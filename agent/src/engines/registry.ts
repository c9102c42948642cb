import type { Engine } from './engine.ts';
import { createFridaEngine } from './frida/frida-engine.ts';
import { createLinuxPtraceEngine } from './linux-ptrace/linux-ptrace-engine.ts';

/**
 * Every engine this build knows, with why it cannot run here when it cannot. The Windows engine
 * is not listed: it runs inside the agent's Windows build (see windows/).
 */
export function availableEngines(): { engine: Engine; skip: string | false }[] {
  return [createLinuxPtraceEngine(), createFridaEngine()].map((engine) => {
    const a = engine.available();
    return { engine, skip: a.ok ? false : a.why };
  });
}
