import Type from 'typebox';
import { Cve, PatchId } from '@suture/shared/schemas';
import { WEBHOOK_SCHEMA, WebhookEvent } from '../../../siem/siem-event.schema.ts'; // not siem/index.ts: the dashboard type-checks against this file, without Node's types

/** Schemas the SIEM read routes (and the patch list's filters) share. */
const patternOf = (t: unknown) => (t as { pattern: string }).pattern;

const SEVERITIES = 'low|medium|high|critical';
export const SeverityList = Type.String({ pattern: `^(${SEVERITIES})(,(${SEVERITIES}))*$`, description: 'low | medium | high | critical, or a comma list' });
export const CveParam = Type.String({ pattern: patternOf(Cve), description: 'a CVE id, e.g. CVE-2026-40001' });
export const PatchIdCursor = Type.String({ pattern: patternOf(PatchId), description: 'return patches after this id (from nextCursor)' });

/** Documented once: the webhook events and this API share the fields (schema suture.siem.events/v1). */
export const SiemEventSchema = Type.Object(WebhookEvent.properties, {
  additionalProperties: false,
  description: `One agent event with its agent's and patch's context. Field names are stable (${WEBHOOK_SCHEMA}, the same as webhook events): fields may be added, none renamed or removed; every field is always present, null when unknown.`,
});
