/**
 * suture-agent: the endpoint agent, for local and offline use.
 *   suture-agent apply <signed patch> [--root <root.json>]   verify, enable, apply everywhere it matches
 *   suture-agent unapply <patch file | patch id>            take it out of every process
 *   suture-agent status [--json]                            what is applied where, what was refused and why
 *   suture-agent run                                        keep enabled patches applied (new processes,
 *                                                            libraries loaded later), crash guard on;
 *                                                            connected to the server once enrolled
 *   suture-agent enroll --server <url> --token <token>       join a fleet (once): credential and root
 * State lives in --state-dir (default SUTURE_AGENT_STATE, else /var/lib/suture-agent on Linux,
 * %ProgramData%\suture-agent on Windows).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { AgentError, createAgentRuntime } from './agent-runtime.ts';
import { createFleetClient, enroll, readCredential } from './fleet/fleet-client.ts';
import { createOutbox } from './fleet/outbox.ts';
import type { PatchEvent } from './patching/patch-manager.ts';
import type { HostSummary } from './fleet/host-summary.ts';

const AGENT_VERSION = '0.1.0';

const defaultStateDir = process.platform === 'win32' ? join(process.env.ProgramData ?? 'C:\\ProgramData', 'suture-agent') : '/var/lib/suture-agent';

const program = new Command('suture-agent')
  .description('Suture endpoint agent: applies signed micropatches to running processes')
  .option('--state-dir <dir>', 'local state (pinned root, enabled patches, what is applied where)', process.env.SUTURE_AGENT_STATE ?? defaultStateDir)
  .option('--json', 'machine-readable output');

const line = (e: PatchEvent) => `${e.type.padEnd(9)} ${e.patchId} pid ${e.pid}${e.reason ? ` (${e.reason})` : ''}${e.detail ? `: ${e.detail}` : ''}`;

/**
 * The runtime for one command. Once enrolled, every outcome also goes to the outbox, which
 * `run` sends to the server: a change made by hand is reported too.
 */
function runtime(events: PatchEvent[] = [], report?: (e: PatchEvent) => void, onScan?: (s: HostSummary) => void) {
  const { stateDir, json } = program.opts<{ stateDir: string; json?: boolean }>();
  const outbox = !report && readCredential(stateDir) ? createOutbox(stateDir) : undefined;
  return createAgentRuntime({
    stateDir,
    onScan,
    onEvent: (e) => {
      events.push(e);
      if (!json) console.error(line(e));
      if (report) report(e);
      else outbox?.addOutcome(e);
    },
  });
}
const out = (value: unknown, text: string) => console.log(program.opts().json ? JSON.stringify(value, null, 1) : text);

program
  .command('apply <patch>')
  .description('verify a signed patch against the pinned root, enable it here and apply it to every process that loads its module')
  .option('--root <root.json>', 'the signed root to pin (first use only)')
  .action(async (file: string, o: { root?: string }) => {
    const events: PatchEvent[] = [];
    const rt = runtime(events);
    if (o.root) rt.pin(readFileSync(o.root));
    const doc = await rt.apply(readFileSync(file));
    await rt.stop();
    const applied = events.filter((e) => e.type === 'applied' || e.type === 'adopted').length;
    out({ patch: doc.id, events }, `${doc.id}: applied in ${applied} process(es), ${events.length - applied} other outcome(s); next: suture-agent status`);
  });

program
  .command('unapply <patch>')
  .description('take a patch (its file or its id) out of every process and disable it here; needs no valid root')
  .action(async (patch: string) => {
    const rt = runtime();
    const { patchId, events } = await rt.unapply(existsSync(patch) ? { bytes: readFileSync(patch) } : { id: patch });
    await rt.stop();
    const failed = events.filter((e) => e.type !== 'unapplied');
    out({ patch: patchId, events }, `${patchId}: removed from ${events.length - failed.length} process(es)${failed.length ? `, ${failed.length} not (see above)` : ''}`);
    if (failed.length) process.exitCode = 1;
  });

program
  .command('status')
  .description('what is applied where, what was refused and why')
  .action(async () => {
    const rt = runtime();
    const s = await rt.status();
    await rt.stop();
    const text = [
      `enabled: ${s.enabled.map((p) => `${p.id} (release ${p.release}, ${p.module})`).join(', ') || 'none'}`,
      ...s.applied.map((r) => `applied  ${r.patchId} pid ${r.pid} since ${r.at}`),
      ...s.refused.slice(-20).map((r) => `${r.outcome.padEnd(8)} ${r.patchId} pid ${r.pid}: ${r.reason}: ${r.detail}`),
      ...Object.entries(s.stopped).map(([id, why]) => `stopped  ${id}: ${why}`),
    ].join('\n');
    out(s, text);
  });

program
  .command('run')
  .description('keep the enabled patches applied; stop with SIGTERM or Ctrl-C')
  .option('--interval <ms>', 'how often to look for new processes and libraries', '1000')
  .action(async (o: { interval: string }) => {
    const { stateDir } = program.opts<{ stateDir: string }>();
    const credential = readCredential(stateDir);
    let client: ReturnType<typeof createFleetClient> | undefined;
    const rt = runtime([], (e) => client?.report(e), (s) => client?.hostSummary(s));
    if (credential)
      client = createFleetClient({
        stateDir,
        credential,
        hello: { agentVersion: AGENT_VERSION, os: process.platform === 'win32' ? 'windows' : 'linux', arch: 'x86_64', hostname: hostname().slice(0, 253) },
        unapply: (patchId) => rt.serialized(async () => (await rt.unapply({ id: patchId })).events),
        desired: (patches) => rt.serialized(() => rt.setDesired(patches)),
        log: (msg) => console.error(`suture-agent: ${msg}`),
      });
    await rt.run({ intervalMs: Number(o.interval) });
    void client?.start();
    console.error(`suture-agent: running, state in ${stateDir}${credential ? `, server ${credential.server}` : ' (not enrolled: local only)'}`);
    const stop = () => (client?.stop(), void rt.stop().then(() => process.exit(0)));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (process.platform === 'win32') process.once('SIGBREAK', stop); // Ctrl-Break: Windows has no SIGTERM to send
  });

program
  .command('enroll')
  .description('join a fleet: exchange an enrollment token (once) for this agent\'s credential and pin the server\'s root')
  .requiredOption('--server <url>', 'the Suture server, e.g. https://suture.example.com')
  .requiredOption('--token <token>', 'an enrollment token from an admin (suture enrollment-token create)')
  .option('--tag <tag>', 'a label the server\'s group rules can match (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .action(async (o: { server: string; token: string; tag: string[] }) => {
    const { stateDir } = program.opts<{ stateDir: string }>();
    if (readCredential(stateDir)) throw new AgentError(`already enrolled (${join(stateDir, 'credential.json')}); remove the state dir to enroll again`);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const r = await enroll({ stateDir, server: o.server, token: o.token, hostname: hostname().slice(0, 253), os: process.platform === 'win32' ? 'windows' : 'linux', version: AGENT_VERSION, tags: o.tag });
    const rt = runtime();
    rt.pin(r.root);
    await rt.stop();
    out({ agentId: r.credential.agentId, group: r.group }, `enrolled as ${r.credential.agentId} in group ${r.group}; next: suture-agent run`);
  });

program.parseAsync().catch((err: Error) => {
  console.error(`suture-agent: ${err instanceof AgentError ? err.message : err.stack ?? err.message}`);
  process.exitCode = 1;
});
