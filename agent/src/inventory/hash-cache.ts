import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export interface FileIdentity {
  sha256: string;
  size: number;
}

/**
 * sha256 of mapped files, cached by device, inode, size and mtime so a re-scan does not re-hash.
 * The file is read through /proc/PID/map_files, so it is the file that is actually mapped even
 * when the path now names a replacement.
 */
export function createHashCache(opts: { maxEntries?: number } = {}) {
  const max = opts.maxEntries ?? 20_000;
  const cache = new Map<string, FileIdentity>();
  let hashed = 0;

  async function hashFile(path: string): Promise<string> {
    const h = createHash('sha256');
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
    hashed++;
    return h.digest('hex');
  }

  return {
    /** `path` is what to read (a map_files link); the key comes from stat()ing it. */
    async identify(path: string): Promise<FileIdentity & { key: string }> {
      const st = await stat(path, { bigint: true });
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
      const hit = cache.get(key);
      if (hit) return { ...hit, key };
      const id = { sha256: await hashFile(path), size: Number(st.size) };
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(key, id);
      return { ...id, key };
    },
    /** How many files were actually hashed (for tests and stats). */
    get hashedCount() {
      return hashed;
    },
  };
}
export type HashCache = ReturnType<typeof createHashCache>;
