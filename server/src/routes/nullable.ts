import Type from 'typebox';

/** `T | null` as a schema. Kept apart from schemas.ts so views.ts needs nothing of Node's (the dashboard type-checks against views.ts). */
export const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);
