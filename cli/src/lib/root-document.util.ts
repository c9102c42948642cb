import { sha256Hex } from '@suture/shared/encoding';
import type { Envelope, RoleName, RootDocument } from '@suture/shared/schemas';
import { checkThreshold, envelopeBytes, parseEnvelope, type VerifiedEnvelope } from '@suture/shared/trust';
import { readBytes, writeOut } from './files.util.ts';
import { aKey, readPublicKey, type KeyRole } from './key-file.util.ts';
import { CliError, usageError } from './output.util.ts';

export type RoleKeys = RootDocument['roles'][RoleName];
type KeyMap = RootDocument['keys'];
const KEY_FLAG: Record<RoleName, string> = { root: '--root-key', publisher: '--publisher', online: '--online' };

/** Parses a root envelope (schema, canonical form, spec version); signatures are checked by the caller. */
export async function readRoot(opts: { path: string }): Promise<VerifiedEnvelope<RootDocument>> {
  const bytes = trimmed(await readBytes({ path: opts.path, what: 'root' }));
  const r = parseEnvelope(bytes, 'root');
  if (!r.ok)
    throw new CliError(`${opts.path} is not a valid root (${r.reason}: ${r.detail}); pass a root written by "suture root create"`, {
      code: 'bad-root',
      extra: { reason: r.reason },
    });
  return r.value;
}

/** Files written by hand may end with a newline; the envelope itself never does. */
export function trimmed(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d || bytes[end - 1] === 0x20)) end--;
  return bytes.subarray(0, end);
}

/** Writes the envelope exactly as it is stored and hashed (canonical JSON); returns its sha256. */
export async function writeEnvelope(opts: { path: string; envelope: Envelope }): Promise<string> {
  const bytes = envelopeBytes(opts.envelope);
  await writeOut({ path: opts.path, text: bytes });
  return sha256Hex(bytes);
}

/**
 * A role from public key files (added to `keys`), or the previous root's role when no files are
 * given. A key file made for another role, or one key in two roles, is refused.
 */
export async function buildRole(opts: {
  role: Exclude<RoleName, 'root'>;
  files?: string[];
  threshold?: number;
  previous?: RoleKeys;
  keys: KeyMap;
  forceRole?: boolean;
}): Promise<RoleKeys> {
  if (!opts.files?.length) {
    if (!opts.previous) throw usageError(`name at least one ${opts.role} key with ${KEY_FLAG[opts.role]} <public key file>`);
    return checkedRole({ role: opts.role, keyids: opts.previous.keyids, threshold: opts.threshold ?? opts.previous.threshold });
  }
  const keys = await Promise.all(opts.files.map((path) => readPublicKey({ path })));
  for (const k of keys) {
    if (k.role && k.role !== opts.role && !opts.forceRole)
      throw new CliError(`${k.path} is ${aKey(k.role)}, not ${aKey(opts.role)}; pass ${aKey(opts.role)} (or --force-role)`, { code: 'wrong-role' });
    opts.keys[k.keyid] = { keytype: 'ed25519', public: k.publicKey };
  }
  return checkedRole({ role: opts.role, keyids: keys.map((k) => k.keyid), threshold: opts.threshold ?? opts.previous?.threshold ?? 1 });
}

export function checkedRole(opts: { role: RoleName | KeyRole; keyids: string[]; threshold: number }): RoleKeys {
  const keyids = [...new Set(opts.keyids)];
  if (keyids.length !== opts.keyids.length) throw usageError(`the same ${opts.role} key is given twice; each key counts once`);
  if (opts.threshold > keyids.length)
    throw usageError(`${opts.role} threshold ${opts.threshold} is more than the ${keyids.length} ${opts.role} key(s); lower the threshold or add keys`);
  return { keyids, threshold: opts.threshold };
}

/** One key in two roles would let, say, a publisher key also rotate the root. */
export function assertRolesDisjoint(doc: RootDocument): void {
  const seen = new Map<string, RoleName>();
  for (const name of ['root', 'publisher', 'online'] as const) {
    for (const keyid of doc.roles[name].keyids) {
      const other = seen.get(keyid);
      if (other && other !== name) throw usageError(`key ${keyid.slice(0, 16)}... is named as both ${other} and ${name}; use separate keys per role`);
      seen.set(keyid, name);
    }
  }
}

/** Only keys some role names stay in the document. */
export function pruneKeys(doc: RootDocument): RootDocument {
  const used = new Set(Object.values(doc.roles).flatMap((r) => r.keyids));
  return { ...doc, keys: Object.fromEntries(Object.entries(doc.keys).filter(([k]) => used.has(k))) };
}

/** Validates the signed result the way an agent will parse it, before anything is written. */
export function assertValidRoot(opts: { envelope: Envelope }): VerifiedEnvelope<RootDocument> {
  const r = parseEnvelope(envelopeBytes(opts.envelope), 'root');
  if (!r.ok) throw new CliError(`the new root would be invalid (${r.reason}: ${r.detail})`, { code: 'bad-root', extra: { reason: r.reason } });
  return r.value;
}

export function rootThreshold(opts: { envelope: Envelope; root: RootDocument }) {
  const r = checkThreshold({ envelope: opts.envelope, root: opts.root, role: 'root' });
  return { met: r.ok, detail: r.ok ? `${r.value.keyids.length} of ${opts.root.roles.root.threshold} required root signatures` : r.detail };
}

export const expiresIn = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

export function rolesSummary(doc: RootDocument): string[] {
  return (['root', 'publisher', 'online'] as const).map(
    (r) => `  ${r}: ${doc.roles[r].threshold} of ${doc.roles[r].keyids.length} (${doc.roles[r].keyids.map((k) => k.slice(0, 12)).join(', ')})`,
  );
}
