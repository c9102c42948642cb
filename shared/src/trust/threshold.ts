import { fromBase64 } from '../encoding/index.ts';
import type { Envelope, RoleName, RootDocument } from '../schemas/index.ts';
import { documentSchemas } from './document-parse.ts';
import { ed25519Verify } from './ed25519.ts';
import { pae } from './envelope.ts';
import { refuse, refusalFromException } from './refusal.ts';
import type { Result } from './types.ts';

/**
 * Counts keys of `role` (listed in the role and present in root.keys) with a valid Ed25519
 * signature over PAE(payloadType, payload). Each key counts once: a keyid that signs twice,
 * and two keyids that the root maps to the same public key, are one signer. Never throws.
 */
export function checkThreshold(opts: { envelope: Envelope; root: RootDocument; role: RoleName }): Result<{ keyids: string[] }> {
  try {
    return count(opts);
  } catch (err) {
    return refusalFromException(err);
  }
}

function count({ envelope, root, role: roleName }: { envelope: Envelope; root: RootDocument; role: RoleName }): Result<{ keyids: string[] }> {
  // Parsed documents already passed their schemas; callers may also hand-build them (the CLI
  // does), and a threshold of 0 in a hand-built root would let zero signatures pass. Only the
  // envelope's shape is checked: a malformed signature inside it is just not a valid one.
  if (typeof envelope?.payloadType !== 'string' || typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures))
    return refuse('malformed', 'not an envelope');
  if (!documentSchemas.root.Check(root)) return refuse('malformed', 'not a root document');
  const role = Object.hasOwn(root.roles, roleName) ? root.roles[roleName] : undefined;
  if (!role) return refuse('malformed', `the root has no role ${JSON.stringify(String(roleName).slice(0, 32))}`);
  const allowed = new Set(role.keyids);
  let msg: Uint8Array;
  try {
    msg = pae(envelope.payloadType, fromBase64(envelope.payload));
  } catch {
    return refuse('malformed', 'payload is not canonical base64');
  }
  const signers = new Map<string, string>(); // public key -> keyid that counted for it
  for (const s of envelope.signatures) {
    if (typeof s?.keyid !== 'string' || typeof s.sig !== 'string' || !allowed.has(s.keyid)) continue;
    const key = Object.hasOwn(root.keys, s.keyid) ? root.keys[s.keyid] : undefined;
    if (!key || signers.has(key.public)) continue;
    let sig: Uint8Array;
    try {
      sig = fromBase64(s.sig);
    } catch {
      continue; // a malformed signature is simply not a valid one
    }
    if (ed25519Verify(msg, sig, key.public)) signers.set(key.public, s.keyid);
  }
  if (signers.size < role.threshold)
    return refuse('threshold-not-met', `${signers.size} valid ${roleName} signature(s) of ${role.threshold} required`);
  return { ok: true, value: { keyids: [...signers.values()] } };
}
