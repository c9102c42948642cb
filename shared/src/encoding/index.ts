export * from './canonical.ts';
export * from './bytes.ts';
