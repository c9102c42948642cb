import { PatchDocument, SPEC_VERSION, type Envelope } from '@suture/shared/schemas';
import { parseEnvelope, type VerifiedEnvelope } from '@suture/shared/trust';
import { Compile } from 'typebox/compile';
import { readBytes } from './files.util.ts';
import { CliError } from './output.util.ts';
import { trimmed } from './root-document.util.ts';
import { formatSchemaErrors } from './schema-errors.util.ts';

const checkDocument = Compile(PatchDocument);

/** An unsigned patch document as `suture patch new` wrote it (or edited by hand), validated. */
export function assertPatchDocument(opts: { value: unknown; path: string }): PatchDocument {
  const v = opts.value as { specVersion?: unknown } | null;
  if (typeof v === 'object' && v !== null && 'specVersion' in v && v.specVersion !== SPEC_VERSION)
    throw new CliError(`${opts.path}: specVersion ${String(v.specVersion)} is not ${SPEC_VERSION}; rebuild it with "suture patch new"`, { code: 'bad-document' });
  if (!checkDocument.Check(opts.value)) {
    const problems = formatSchemaErrors({ errors: checkDocument.Errors(opts.value) });
    throw new CliError(`${opts.path} is not a valid patch document: ${problems.join('; ')}; rebuild it with "suture patch new"`, { code: 'bad-document' });
  }
  return opts.value;
}

export const isEnvelope = (v: unknown): v is Envelope => typeof v === 'object' && v !== null && 'payloadType' in v && 'signatures' in v;

/** A signed patch file, parsed the way the server and agents parse it (signatures not checked here). */
export async function readSignedPatch(opts: { path: string }): Promise<VerifiedEnvelope<PatchDocument>> {
  const bytes = trimmed(await readBytes({ path: opts.path, what: 'signed patch' }));
  const r = parseEnvelope(bytes, 'patch');
  if (!r.ok) throw refusal({ path: opts.path, reason: r.reason, detail: r.detail });
  return r.value;
}

export const refusal = (opts: { path: string; reason: string; detail: string }) =>
  new CliError(`${opts.path} refused (${opts.reason}): ${opts.detail}`, { code: 'patch-refused', extra: { reason: opts.reason } });
