import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { fromHex } from '../encoding/index.ts';

/**
 * Ed25519 as DESIGN.md specifies it (keys and signatures are tweetnacl's raw formats), computed
 * by Node's OpenSSL where it is available: tweetnacl verifies in ~14 ms on this class of CPU,
 * OpenSSL in ~0.09 ms, which is the difference between an agent checking a fleet's worth of
 * manifests and stalling on them. Signatures are byte-identical (Ed25519 is deterministic);
 * tests cross-check the two. OpenSSL is the stricter verifier (it rejects non-canonical S).
 */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const cache = new Map<string, KeyObject>();
const CACHE_MAX = 1024;

function publicKeyObject(publicKeyHex: string): KeyObject {
  let k = cache.get(publicKeyHex);
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(publicKeyHex, k);
  }
  return k;
}

export function ed25519Verify(message: Uint8Array, signature: Uint8Array, publicKeyHex: string): boolean {
  if (signature.length !== 64 || !/^[0-9a-f]{64}$/.test(publicKeyHex)) return false;
  try {
    return verify(null, message, publicKeyObject(publicKeyHex), signature);
  } catch {
    return false;
  }
}

/** `secretKeyHex` is tweetnacl's 64-byte secret key (seed followed by the public key). */
export function ed25519Sign(message: Uint8Array, secretKeyHex: string): Uint8Array {
  const seed = Buffer.from(secretKeyHex.slice(0, 64), 'hex');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return new Uint8Array(sign(null, message, key));
}

/** The reference implementation, kept for cross-checks. */
export const tweetnacl = {
  verify: (message: Uint8Array, signature: Uint8Array, publicKeyHex: string) => nacl.sign.detached.verify(message, signature, fromHex(publicKeyHex)),
  sign: (message: Uint8Array, secretKeyHex: string) => nacl.sign.detached(message, fromHex(secretKeyHex)),
};
