import { fromHex, sha256Hex } from '../encoding/index.ts';
import type { RootDocument } from '../schemas/index.ts';

/**
 * What a root must say about its keys beyond its schema: every keyid is the sha256 of its
 * public key, every role names only keys the root lists, and no key serves two roles. The last
 * one is the point of the trust model: if the server's online key were also a publisher key, a
 * stolen server could sign patches. Returns the problem, or undefined.
 */
export function rootKeyProblem(root: RootDocument): string | undefined {
  for (const [keyid, key] of Object.entries(root.keys) as [string, unknown][]) {
    // The schema's record type does not stop other property names: check the shape here too.
    const pub = (key as { public?: unknown } | null)?.public;
    if (!/^[0-9a-f]{64}$/.test(keyid) || typeof pub !== 'string' || !/^[0-9a-f]{64}$/.test(pub)) return `key entry ${keyid.slice(0, 80)} is malformed`;
    if (sha256Hex(fromHex(pub)) !== keyid) return `keyid ${keyid} is not the sha256 of its public key`;
  }
  const owner = new Map<string, string>();
  for (const [role, keys] of Object.entries(root.roles)) {
    for (const keyid of new Set(keys.keyids)) {
      if (!Object.hasOwn(root.keys, keyid)) return `role ${role} names key ${keyid}, which the root does not list`;
      const other = owner.get(keyid);
      if (other) return `key ${keyid} serves both the ${other} and the ${role} role`;
      owner.set(keyid, role);
    }
  }
  return undefined;
}
