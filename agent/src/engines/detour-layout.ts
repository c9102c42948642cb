/**
 * Where detour code goes and what bytes replace the patched instructions; the same for every
 * engine. A patch's detours share one block: the header (magic + patch id), then each patchlet's
 * code at a 16-byte boundary, relocated for the block's address. The patched instructions become
 * `jmp rel32` to the code, padded with NOPs (never a trap).
 */
import { blockHeader, BLOCK_HEADER_SIZE, type ResolvedPatchlet } from './engine.ts';

export const PAGE = 4096n;
const REL32_MIN = -(2n ** 31n);
const REL32_MAX = 2n ** 31n - 1n;
const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Bytes of block a patch needs (page-rounded), or 0 when it has no detours. */
export function blockSize(patchlets: ResolvedPatchlet[]): number {
  let size = BLOCK_HEADER_SIZE;
  let any = false;
  for (const p of patchlets) if (p.kind === 'detour') (size = align(size, 16) + p.code.length), (any = true);
  return any ? Number((BigInt(size) + PAGE - 1n) & ~(PAGE - 1n)) : 0;
}

export class LayoutError extends Error {}

function rel32(from: bigint, to: bigint, what: string): number {
  const d = to - from;
  if (d < REL32_MIN || d > REL32_MAX) throw new LayoutError(`${what}: 0x${to.toString(16)} is out of rel32 reach of 0x${from.toString(16)}`);
  return Number(d);
}

export interface Layout {
  /** the whole block's contents (header and code), to write at `block` */
  block: Uint8Array;
  /** per patchlet, the bytes that replace `expect` at its address */
  writes: { address: bigint; from: Uint8Array; to: Uint8Array }[];
}

/** Lays out `patchlets` for a block at `block` (ignored when there are no detours). */
export function layout(opts: { patchId: string; block: bigint; size: number; patchlets: ResolvedPatchlet[] }): Layout {
  const buf = Buffer.alloc(opts.size);
  if (opts.size > 0) Buffer.from(blockHeader(opts.patchId)).copy(buf, 0);
  let at = BLOCK_HEADER_SIZE;
  const writes: Layout['writes'] = [];
  for (const p of opts.patchlets) {
    if (p.kind === 'in-place') {
      writes.push({ address: p.address, from: p.expect, to: p.write });
      continue;
    }
    at = align(at, 16);
    const codeAt = opts.block + BigInt(at);
    const code = Buffer.from(p.code);
    for (const r of p.relocations) {
      const width = r.type === 'rel32' ? 4 : 8;
      if (r.offset + width > code.length) throw new LayoutError(`relocation at ${r.offset} runs past the code (${code.length} bytes)`);
      if (r.type === 'abs64') code.writeBigUInt64LE(r.target, r.offset);
      else code.writeInt32LE(rel32(codeAt + BigInt(r.offset + 4), r.target, `relocation at ${r.offset}`), r.offset);
    }
    code.copy(buf, at);
    if (p.expect.length < 5) throw new LayoutError(`a detour needs at least 5 bytes of whole instructions, got ${p.expect.length}`);
    const jmp = Buffer.alloc(p.expect.length, 0x90);
    jmp[0] = 0xe9;
    jmp.writeInt32LE(rel32(p.address + 5n, codeAt, 'detour jump'), 1);
    writes.push({ address: p.address, from: p.expect, to: new Uint8Array(jmp) });
    at += code.length;
  }
  if (at > opts.size && opts.size > 0) throw new LayoutError('detour code does not fit its block');
  return { block: new Uint8Array(buf), writes };
}

/** Every address the block must reach with rel32 (jumps in, relocations out). */
export function reachAddresses(patchlets: ResolvedPatchlet[]): bigint[] {
  const out: bigint[] = [];
  for (const p of patchlets) {
    if (p.kind !== 'detour') continue;
    out.push(p.address);
    for (const r of p.relocations) if (r.type === 'rel32') out.push(r.target);
  }
  return out;
}

/**
 * Candidate block addresses inside the free gaps (`[start, end)`, sorted) such that every
 * address in `reach` stays within rel32 of the whole block; nearest to the reach first.
 */
export function blockCandidates(opts: { gaps: { start: bigint; end: bigint }[]; size: number; reach: bigint[]; minAddress?: bigint }): bigint[] {
  if (opts.reach.length === 0) return [];
  const size = BigInt(opts.size);
  const lo = opts.reach.reduce((a, b) => (a < b ? a : b));
  const hi = opts.reach.reduce((a, b) => (a > b ? a : b));
  // The block [b, b+size) must satisfy hi - b < 2^31 - margin and b + size - lo < 2^31 - margin.
  const margin = 64n;
  const minB = hi - (2n ** 31n - margin) + 1n;
  const maxB = lo + (2n ** 31n - margin) - size;
  const floor = opts.minAddress ?? 0x10000n;
  const out: { at: bigint; dist: bigint }[] = [];
  for (const g of opts.gaps) {
    const start = (g.start > floor ? g.start : floor) + PAGE - 1n & ~(PAGE - 1n);
    const end = (g.end - size) & ~(PAGE - 1n); // last start that fits
    const from = start > minB ? start : (minB + PAGE - 1n) & ~(PAGE - 1n);
    const to = end < maxB ? end : maxB & ~(PAGE - 1n);
    if (from > to) continue;
    // Nearest end of the gap to the module.
    const pick = to < lo ? to : from;
    out.push({ at: pick, dist: pick > lo ? pick - lo : lo - pick });
  }
  return out.sort((a, b) => (a.dist < b.dist ? -1 : a.dist > b.dist ? 1 : 0)).map((c) => c.at);
}
