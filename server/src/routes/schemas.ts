import Type from 'typebox';

/** The one error shape every failing response has. */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      reason: Type.Optional(Type.String()),
      details: Type.Optional(Type.Unknown()),
      requestId: Type.String(),
    }),
  },
  { $id: 'ErrorResponse' },
);

export const errors = <const C extends readonly number[]>(...codes: C) =>
  Object.fromEntries(codes.map((c) => [c, ErrorResponse])) as { [K in C[number]]: typeof ErrorResponse };

export const Cursor = Type.Object({
  after: Type.Optional(Type.String({ maxLength: 200, description: 'return items after this cursor (from nextCursor)' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
});

export const page = <T,>(items: T[], limit: number, key: (t: T) => string) => ({
  items,
  nextCursor: items.length === limit && items.length > 0 ? key(items[items.length - 1]!) : null,
});

export { Nullable } from './nullable.ts';

/** Sends stored envelope bytes as they are: signatures and hashes are over these exact bytes. */
export const sendBytes = <R extends { type(t: string): R; send(b: never): R }>(reply: R, bytes: Uint8Array): R =>
  reply.type('application/json').send(Buffer.from(bytes) as never);
