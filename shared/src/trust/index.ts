export * from './types.ts';
export * from './keys.ts';
export * from './envelope.ts';
export { parseEnvelope, type DocFor } from './document-parse.ts';
export { checkThreshold } from './threshold.ts';
export { pinRoot, updateRoot } from './root-rotation.ts';
export { verifyPublishedPatch, verifyUpdate } from './agent-verify.ts';
