export * from './common.ts';
export * from './envelope.ts';
export * from './root.ts';
export * from './patch.ts';
export * from './manifest.ts';
export * from './desired-state.ts';
