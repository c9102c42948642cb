import { fromBase64 } from '../encoding/index.ts';
import { ed25519Verify } from './ed25519.ts';
import type { Envelope, RoleName, RootDocument } from '../schemas/index.ts';
import { pae } from './envelope.ts';
import type { Result } from './types.ts';

/**
 * Counts distinct keyids of `role` (named in root.keys) with a valid Ed25519 signature over
 * PAE(payloadType, payload). A key that signs twice counts once. Never throws.
 */
export function checkThreshold(opts: { envelope: Envelope; root: RootDocument; role: RoleName }): Result<{ keyids: string[] }> {
  const role = opts.root.roles[opts.role];
  const allowed = new Set(role.keyids);
  let msg: Uint8Array;
  try {
    msg = pae(opts.envelope.payloadType, fromBase64(opts.envelope.payload));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'payload is not canonical base64' };
  }
  const good = new Set<string>();
  for (const s of opts.envelope.signatures) {
    if (good.has(s.keyid) || !allowed.has(s.keyid)) continue;
    const key = opts.root.keys[s.keyid];
    if (!key) continue;
    try {
      const sig = fromBase64(s.sig);
      if (ed25519Verify(msg, sig, key.public)) good.add(s.keyid);
    } catch {
      /* a malformed signature is simply not valid */
    }
  }
  if (good.size < role.threshold)
    return {
      ok: false,
      reason: 'threshold-not-met',
      detail: `${good.size} valid ${opts.role} signature(s) of ${role.threshold} required`,
    };
  return { ok: true, value: { keyids: [...good] } };
}
