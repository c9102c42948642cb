import { fromHex } from '@suture/shared/encoding';
import type { PatchDocument } from '@suture/shared/schemas';
import type { ApplyRequest, ResolvedPatchlet, TargetProcess } from '../engines/engine.ts';

/** The patch's patchlets at their runtime addresses in a module loaded at `base` (the address of RVA 0). */
export function resolvePatchlets(doc: Pick<PatchDocument, 'patchlets'>, base: bigint): ResolvedPatchlet[] {
  return doc.patchlets.map((p): ResolvedPatchlet => {
    const address = base + BigInt(p.rva);
    if (p.kind === 'in-place') return { kind: 'in-place', address, expect: fromHex(p.expect), write: fromHex(p.write) };
    return {
      kind: 'detour',
      address,
      expect: fromHex(p.expect),
      code: fromHex(p.code),
      relocations: p.relocations.map((r) => ({ offset: r.offset, type: r.type, target: base + BigInt(r.targetRva) })),
    };
  });
}

export function applyRequest(opts: { doc: Pick<PatchDocument, 'id' | 'patchlets'>; process: TargetProcess; module: { base: bigint; size: number } }): ApplyRequest {
  const { doc, module } = opts;
  return {
    process: opts.process,
    patchId: doc.id,
    module: { base: module.base, end: module.base + BigInt(module.size) },
    patchlets: resolvePatchlets(doc, module.base),
  };
}
