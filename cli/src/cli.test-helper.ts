/** Runs the real `suture` CLI as a child process, and builds a real module with gcc. */
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/suture.mjs', import.meta.url));
export const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface CliRun {
  args: string[];
  status: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Everything any run printed, to prove that no secret ever reaches a terminal. */
export const transcript: string[] = [];

/** `via: 'bin'` runs bin/suture.mjs; `via: 'tsx'` runs `node --import tsx src/main.ts` like the root `pnpm suture`. */
export function suture(args: string[], opts: { cwd?: string; via?: 'bin' | 'tsx'; env?: Record<string, string> } = {}): Promise<CliRun> {
  const argv = opts.via === 'tsx' ? ['--import', 'tsx', MAIN, ...args] : [BIN, ...args];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      argv,
      { cwd: opts.cwd, env: { ...process.env, SUTURE_CONFIG: '/nonexistent/suture.json', ...opts.env }, timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        transcript.push(stdout, stderr);
        const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({
          args,
          status,
          stdout,
          stderr,
          json<T>() {
            try {
              return JSON.parse(stdout) as T;
            } catch {
              throw new Error(`suture ${args.join(' ')} printed no JSON (exit ${status}):\n${stdout}\n${stderr}`);
            }
          },
        });
      },
    );
  });
}

export interface Instruction {
  rva: number;
  hex: string;
}

/** A tiny program with known functions: check_len (an in-place target) and scale (a detour target). */
export const FLAW_SOURCE = `
int counter = 7;
__attribute__((noinline)) int check_len(int n) { return n <= 16 ? n * 3 + counter : -1; }
__attribute__((noinline)) int scale(int x) { return x * 5 + counter; }
int main(int argc, char **argv) { (void)argv; return check_len(argc) + scale(argc); }
`;

/** Non-PIE, so that RVA = symbol address - ELF base is a real subtraction. */
export function buildModule(opts: { out: string; source?: string }): void {
  execFileSync('gcc', ['-O1', '-fno-pie', '-no-pie', '-Wl,--build-id', '-o', opts.out, '-x', 'c', '-'], { input: opts.source ?? FLAW_SOURCE });
}

/** The ELF base: the lowest PT_LOAD address, rounded down to the page (readelf's view). */
export function elfBase(file: string): number {
  const loads = execFileSync('readelf', ['-lW', file], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim().startsWith('LOAD'))
    .map((l) => parseInt(l.trim().split(/\s+/)[2]!, 16));
  return Math.floor(Math.min(...loads) / 4096) * 4096;
}

/** RVA of any symbol (code or data): nm address minus the ELF base. */
export function symbolRva(opts: { file: string; symbol: string }): number {
  const line = execFileSync('nm', [opts.file], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.endsWith(` ${opts.symbol}`));
  if (!line) throw new Error(`${opts.symbol} not in ${opts.file}`);
  return parseInt(line.split(' ')[0]!, 16) - elfBase(opts.file);
}

/** A function's instructions as objdump disassembles them, at RVAs (nm address minus the ELF base). */
export function instructions(opts: { file: string; symbol: string }): Instruction[] {
  const base = elfBase(opts.file);
  const start = symbolRva(opts) + base;
  const dump = execFileSync('objdump', ['-d', '--insn-width=16', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${(start + 64).toString(16)}`, opts.file], {
    encoding: 'utf8',
  });
  return [...dump.matchAll(/^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t/gm)].map((m) => ({ rva: parseInt(m[1]!, 16) - base, hex: m[2]!.replace(/ /g, '') }));
}
