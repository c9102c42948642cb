import { readdir, readFile } from 'node:fs/promises';

export interface ProcessInfo {
  pid: number;
  /** start time in clock ticks since boot (field 22 of /proc/PID/stat): with the pid, it names one process */
  startTime: bigint;
  comm: string;
}

/** Reads /proc/PID/stat; undefined when the process is gone (it may exit at any moment). */
export async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself contain spaces and parentheses.
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const fields = stat.slice(close + 2).split(' ');
  const start = fields[19]; // field 22 overall; fields[0] is field 3
  if (start === undefined) return undefined;
  return { pid, startTime: BigInt(start), comm };
}

export async function listPids(): Promise<number[]> {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
}
