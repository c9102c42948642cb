import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CanonicalError, canonicalBytes, canonicalize } from './canonical.ts';
import { fromBase64, fromHex, toBase64, toHex, utf8 } from './bytes.ts';

describe('canonical JSON', () => {
  test('sorts keys at every level and has no whitespace', () => {
    assert.equal(canonicalize({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalize({ u: undefined, s: 'é"\n' }), '{"s":"é\\"\\n"}');
  });

  test('key order is by UTF-16 code units, not by locale or code point', () => {
    // 'B' (0x42) < 'a' (0x61); '10' < '9'; U+1F600 is stored as 0xD83D 0xDE00, which sorts before U+FFFF.
    assert.equal(canonicalize({ a: 1, B: 2 }), '{"B":2,"a":1}');
    assert.equal(canonicalize({ 9: 1, 10: 2 }), '{"10":2,"9":1}');
    assert.equal(canonicalize({ '\uffff': 1, '\u{1f600}': 2 }), '{"\u{1f600}":2,"\uffff":1}');
  });

  test('the same value built in any key order encodes to the same bytes', () => {
    const a = { type: 'manifest', version: 3, patches: [{ id: 'x', sha256: 'ab' }] };
    const b = { patches: [{ sha256: 'ab', id: 'x' }], version: 3, type: 'manifest' };
    assert.deepEqual(canonicalBytes(a), canonicalBytes(b));
  });

  test('strings are escaped exactly as JSON.stringify does, lone surrogates included', () => {
    assert.equal(canonicalize('\u0000\u001f\u007f\u2028'), '"\\u0000\\u001f\u007f\u2028"');
    assert.equal(canonicalize('\ud800'), '"\\ud800"');
  });

  test('refuses floats, non-finite and unsafe numbers', () => {
    for (const n of [1.5, -0.1, 2 ** 53, -(2 ** 60), Number.NaN, Number.POSITIVE_INFINITY, 1e300])
      assert.throws(() => canonicalize({ n }), CanonicalError, String(n));
    assert.equal(canonicalize(Number.MAX_SAFE_INTEGER), String(Number.MAX_SAFE_INTEGER));
  });

  test('refuses -0, which would encode the same as 0', () => {
    assert.throws(() => canonicalize(-0), CanonicalError);
    assert.throws(() => canonicalize({ x: [-0] }), CanonicalError);
    assert.equal(canonicalize(0), '0');
  });

  test('refuses non-plain objects and values JSON has no form for', () => {
    class Doc {
      a = 1;
    }
    for (const v of [new Date(), new Map(), new Set(), new Doc(), new Uint8Array(2), /x/, () => 1, Symbol('s'), 1n, undefined])
      assert.throws(() => canonicalize({ v: [v] }), CanonicalError, String(typeof v));
    assert.equal(canonicalize(Object.assign(Object.create(null), { b: 1, a: 2 })), '{"a":2,"b":1}');
  });

  test('refuses sparse arrays instead of emitting invalid JSON', () => {
    // eslint-disable-next-line no-sparse-arrays
    assert.throws(() => canonicalize([, 1]), CanonicalError);
    assert.throws(() => canonicalize(new Array(3)), CanonicalError);
  });

  test('refuses nesting deeper than 64', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    assert.throws(() => canonicalize(deep), CanonicalError);
  });

  test('property: any JSON value either encodes to JSON that parses back to it, or is refused', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => {
        let s: string;
        try {
          s = canonicalize(v);
        } catch (err) {
          assert.ok(err instanceof CanonicalError);
          return;
        }
        assert.deepEqual(JSON.parse(s), v);
        assert.equal(canonicalize(JSON.parse(s)), s, 'canonical form is a fixed point');
      }),
      { numRuns: 500 },
    );
  });
});

describe('base64 and hex', () => {
  test('round-trip any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        assert.deepEqual(fromBase64(toBase64(b)), b);
        assert.deepEqual(fromHex(toHex(b)), b);
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(fromBase64(''), new Uint8Array(0));
  });

  test('base64 decoding refuses everything that does not round-trip', () => {
    const refused = [
      'AQID!', // junk character
      'AQI', // missing padding
      'AQ=', // short padding
      'AQID=', // padding where none belongs
      'AQ==AQ==', // data after padding
      'AQ ID', // whitespace
      'AQID\n',
      'A-_8', // base64url alphabet
      'AQJ=', // non-zero trailing bits (the canonical form is AQI=)
      'AB==',
      '====',
    ];
    for (const s of refused) assert.throws(() => fromBase64(s), TypeError, JSON.stringify(s));
  });

  test('hex decoding refuses odd lengths and non-hex characters', () => {
    assert.throws(() => fromHex('abc'));
    assert.throws(() => fromHex('zz'));
    assert.throws(() => fromHex('0x00'));
    assert.throws(() => fromHex('00 '));
  });
});

describe('UTF-8', () => {
  test('decoding is fatal on invalid sequences', () => {
    for (const b of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xe2, 0x82]]) assert.throws(() => utf8.decode(new Uint8Array(b)), TypeError);
  });

  test('a byte-order mark is kept, not silently dropped', () => {
    assert.equal(utf8.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), '\ufeff{}');
  });
});
