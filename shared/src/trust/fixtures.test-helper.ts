import { SPEC_VERSION, type ManifestDocument, type PatchDocument, type RootDocument } from '../schemas/index.ts';
import { sha256Hex } from '../encoding/index.ts';
import { envelopeBytes, signDocument } from './envelope.ts';
import { generateKeyPair, type KeyPair } from './keys.ts';
import { pinRoot } from './root-rotation.ts';
import type { TrustState } from './types.ts';

export const MODULE = 'ab'.repeat(32);
export const OTHER_MODULE = 'cd'.repeat(32);
export const NOW = new Date('2026-11-25T12:00:00Z');
const inDays = (d: number) => new Date(NOW.getTime() + d * 86_400_000).toISOString();

export interface Keys {
  root: KeyPair[];
  publisher: KeyPair[];
  online: KeyPair[];
}

export const newKeys = (n = 1): Keys => ({
  root: Array.from({ length: n }, generateKeyPair),
  publisher: [generateKeyPair()],
  online: [generateKeyPair()],
});

export function rootDoc(keys: Keys, opts: { version?: number; expiresDays?: number; rootThreshold?: number; publisherThreshold?: number } = {}): RootDocument {
  const all = [...keys.root, ...keys.publisher, ...keys.online];
  return {
    type: 'root',
    specVersion: SPEC_VERSION,
    version: opts.version ?? 1,
    expires: inDays(opts.expiresDays ?? 365),
    keys: Object.fromEntries(all.map((k) => [k.keyid, { keytype: 'ed25519' as const, public: k.publicKey }])),
    roles: {
      root: { keyids: keys.root.map((k) => k.keyid), threshold: opts.rootThreshold ?? keys.root.length },
      publisher: { keyids: keys.publisher.map((k) => k.keyid), threshold: opts.publisherThreshold ?? 1 },
      online: { keyids: keys.online.map((k) => k.keyid), threshold: 1 },
    },
  };
}

export const rootBytes = (doc: RootDocument, signers: KeyPair[]) => envelopeBytes(signDocument('root', doc, signers));

export function pinned(keys: Keys): TrustState {
  const r = pinRoot({ bytes: rootBytes(rootDoc(keys), keys.root), now: NOW });
  if (!r.ok) throw new Error(r.detail);
  return r.value;
}

export function patchDoc(over: Partial<PatchDocument> = {}): PatchDocument {
  return {
    type: 'patch',
    specVersion: SPEC_VERSION,
    id: 'SUT-1',
    title: 'fix',
    description: '',
    cves: ['CVE-2026-0001'],
    severity: 'high',
    module: { sha256: MODULE, size: 4096, name: 'libx.so', platform: 'linux', arch: 'x86_64' },
    release: 1,
    created: NOW.toISOString(),
    patchlets: [{ kind: 'in-place', rva: 0x1000, expect: '7e05', write: '7c05' }],
    ...over,
  };
}

export const patchBytes = (doc: PatchDocument, signers: KeyPair[]) => envelopeBytes(signDocument('patch', doc, signers));

export function manifestBytes(opts: { keys: KeyPair[]; version: number; patches?: Uint8Array[]; module?: string; expiresDays?: number; entries?: ManifestDocument['patches'] }) {
  const entries =
    opts.entries ??
    (opts.patches ?? []).map((b) => {
      const doc = JSON.parse(Buffer.from(JSON.parse(Buffer.from(b).toString()).payload, 'base64').toString()) as PatchDocument;
      return { id: doc.id, release: doc.release, length: b.length, sha256: sha256Hex(b) };
    });
  const doc: ManifestDocument = {
    type: 'manifest',
    specVersion: SPEC_VERSION,
    module: opts.module ?? MODULE,
    version: opts.version,
    expires: inDays(opts.expiresDays ?? 1),
    patches: entries,
  };
  return envelopeBytes(signDocument('manifest', doc, opts.keys));
}
