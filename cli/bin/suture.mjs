#!/usr/bin/env node
// `suture`: runs the TypeScript CLI through tsx (no build step).
// typebox is plain JavaScript of several hundred files; loading it before tsx's loader hooks are
// installed skips a hook round trip per file and halves start-up time.
await Promise.all([import('typebox'), import('typebox/compile')]);
const { register } = await import('tsx/esm/api');
register();
await import('../src/main.ts');
