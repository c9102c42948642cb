import nacl from 'tweetnacl';
import { fromHex, sha256Hex, toHex } from '../encoding/index.ts';

export interface KeyPair {
  keyid: string;
  /** raw 32-byte public key, hex */
  publicKey: string;
  /** 64-byte tweetnacl secret key (seed + public), hex. Never log it. */
  secretKey: string;
}

/** keyid = sha256 of the raw public key bytes. */
export function keyIdOf(publicKeyHex: string): string {
  return sha256Hex(fromHex(publicKeyHex));
}

export function generateKeyPair(): KeyPair {
  const kp = nacl.sign.keyPair();
  const publicKey = toHex(kp.publicKey);
  return { keyid: keyIdOf(publicKey), publicKey, secretKey: toHex(kp.secretKey) };
}

export function keyPairFromSecret(secretKeyHex: string): KeyPair {
  const kp = nacl.sign.keyPair.fromSecretKey(fromHex(secretKeyHex));
  const publicKey = toHex(kp.publicKey);
  return { keyid: keyIdOf(publicKey), publicKey, secretKey: secretKeyHex };
}
