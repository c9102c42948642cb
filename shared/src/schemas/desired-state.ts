import Type, { type Static } from 'typebox';
import { PatchId } from './common.ts';

/** Which patches are enabled for one agent; comes over the authenticated WebSocket, unsigned. */
export const DesiredState = Type.Object(
  {
    version: Type.Integer({ minimum: 0 }),
    enabled: Type.Array(PatchId, { maxItems: 10_000 }),
  },
  { additionalProperties: false },
);
export type DesiredState = Static<typeof DesiredState>;
