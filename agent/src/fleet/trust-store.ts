import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvelope, verifyUpdate, type TrustState } from '@suture/shared/trust';
import type { PatchDocument } from '@suture/shared/schemas';

export interface DesiredInput {
  patches: { id: string; envelope: Uint8Array }[];
  manifests: { module: string; envelope: Uint8Array }[];
  roots: Uint8Array[];
}

export type Verified = { ok: true; id: string; doc: PatchDocument; bytes: Uint8Array } | { ok: false; id: string; reason: string; detail: string };

/**
 * What the agent has accepted from the server, on disk: the pinned root (root.json, moved
 * forward along the root chain) and, per module, the last accepted manifest version and patch
 * releases (trust.json). Every patch the server sends goes through the shared verifyUpdate
 * with its module's manifest before it is kept: signatures, expiry, rollback, freeze, hashes
 * and release counters. Only what passed is persisted.
 */
export function createTrustStore(opts: { stateDir: string; rootFile: string }) {
  const file = join(opts.stateDir, 'trust.json');
  function load(): TrustState {
    const root = parseEnvelope(readFileSync(opts.rootFile), 'root');
    if (!root.ok) throw new Error(`the pinned root cannot be read (${root.reason}: ${root.detail}); pin a current one`);
    let saved: Pick<TrustState, 'manifests' | 'releases'> = { manifests: {}, releases: {} };
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}; move it aside to start afresh`);
    }
    return { root: root.value, manifests: saved.manifests, releases: saved.releases };
  }
  function save(state: TrustState, before: TrustState): void {
    if (state.root.sha256 !== before.root.sha256) {
      writeFileSync(`${opts.rootFile}.tmp`, state.root.bytes, { mode: 0o600 });
      renameSync(`${opts.rootFile}.tmp`, opts.rootFile);
    }
    writeFileSync(`${file}.tmp`, JSON.stringify({ manifests: state.manifests, releases: state.releases }), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  return {
    /**
     * Verifies each patch with its module's manifest (one clock reading for the whole message;
     * the root chain first). A patch that fails is refused alone; the others still pass.
     */
    verify(input: DesiredInput, now = new Date()): Verified[] {
      const before = load();
      let state = before;
      const pinned = before.root.document.version;
      const roots = input.roots.filter((r) => {
        const p = parseEnvelope(r, 'root'); // only to pick the versions after ours; verifyUpdate checks them
        return p.ok && p.value.document.version > pinned;
      });
      const out: Verified[] = [];
      for (const p of input.patches) {
        const unverified = parseEnvelope(p.envelope, 'patch');
        const module = unverified.ok ? unverified.value.document.module.sha256 : undefined;
        const manifest = input.manifests.find((m) => m.module === module);
        if (!manifest) {
          out.push({ ok: false, id: p.id, reason: 'not-in-manifest', detail: `no manifest came for the module of patch ${p.id}` });
          continue;
        }
        const r = verifyUpdate({ state, roots: state === before ? roots : [], manifest: manifest.envelope, patches: [p.envelope], mappedModuleSha256: module!, now });
        if (!r.ok) {
          out.push({ ok: false, id: p.id, reason: r.reason, detail: r.detail });
          continue;
        }
        const doc = r.value.patches[0]!.document;
        if (doc.id !== p.id) out.push({ ok: false, id: p.id, reason: 'malformed', detail: `the server sent patch ${doc.id} as ${p.id}` });
        else (state = r.value.state), out.push({ ok: true, id: p.id, doc, bytes: p.envelope });
      }
      if (state !== before) save(state, before);
      return out;
    },
  };
}
export type TrustStore = ReturnType<typeof createTrustStore>;
