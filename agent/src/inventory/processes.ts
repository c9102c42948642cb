import { readdir, readFile } from 'node:fs/promises';

export interface ProcessInfo {
  pid: number;
  /** start time in clock ticks since boot (field 22 of /proc/PID/stat): with the pid, it names one process */
  startTime: bigint;
  comm: string;
}

/** Parses /proc/PID/stat; comm is in parentheses and may itself contain spaces and parentheses. */
export function parseStat(pid: number, stat: string): ProcessInfo | undefined {
  const close = stat.lastIndexOf(')');
  const start = stat.slice(close + 2).split(' ')[19]; // field 22 overall; the slice starts at field 3
  if (start === undefined) return undefined;
  return { pid, startTime: BigInt(start), comm: stat.slice(stat.indexOf('(') + 1, close) };
}

/** Reads /proc/PID/stat; undefined when the process is gone (it may exit at any moment). */
export async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  try {
    return parseStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export async function listPids(): Promise<number[]> {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
}
