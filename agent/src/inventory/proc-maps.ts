/** One line of /proc/PID/maps. */
export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  /** "major:minor" in hex, as the kernel prints it */
  dev: string;
  inode: number;
  path: string;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) ([rwxsp-]{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/;

export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    out.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3]!,
      offset: BigInt(`0x${m[4]}`),
      dev: m[5]!,
      inode: Number(m[6]),
      path: m[7]!,
    });
  }
  return out;
}

export interface MappedFile {
  dev: string;
  inode: number;
  path: string;
  /** true when the kernel says the file was deleted or replaced after it was mapped */
  deleted: boolean;
  /** lowest address the file is mapped at: the module's load base */
  base: bigint;
  /** the mapping that covers file offset 0, used to read the mapped file through map_files */
  first: Mapping;
  mappings: Mapping[];
}

/** Groups file-backed mappings by file (device + inode); the base is the lowest mapping. */
export function mappedFiles(maps: Mapping[]): MappedFile[] {
  const byFile = new Map<string, MappedFile>();
  for (const m of maps) {
    if (m.inode === 0 || !m.path.startsWith('/')) continue;
    const key = `${m.dev}:${m.inode}`;
    const deleted = m.path.endsWith(' (deleted)');
    const f = byFile.get(key);
    if (!f) byFile.set(key, { dev: m.dev, inode: m.inode, path: deleted ? m.path.slice(0, -10) : m.path, deleted, base: m.start, first: m, mappings: [m] });
    else {
      f.mappings.push(m);
      if (m.start < f.base) f.base = m.start;
      if (m.offset === 0n && (f.first.offset !== 0n || m.start < f.first.start)) f.first = m;
    }
  }
  return [...byFile.values()].filter((f) => f.first.offset === 0n);
}
