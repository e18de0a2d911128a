// Status fields and deadlines as the daemon's listener writes and reads them.
import { describe, expect, it } from 'vitest';
import { encodeGrpcMessage, parseTimeout, statusFields, statusOf } from '../../../src/daemon/grpc-server/status.js';
import { NcacheError } from '../../../src/util/errors.js';

describe('grpc-message', () => {
  it('is percent-encoded: printable ASCII stays, "%" and anything else become %XX of their UTF-8 bytes', () => {
    expect(encodeGrpcMessage('blob abc/12 not found')).toBe('blob abc/12 not found');
    expect(encodeGrpcMessage('100% done')).toBe('100%25 done');
    expect(encodeGrpcMessage('line\nnext')).toBe('line%0Anext');
    expect(encodeGrpcMessage('café ✓')).toBe('caf%C3%A9 %E2%9C%93');
    expect(decodeURIComponent(encodeGrpcMessage('mixed % é \t ✓'))).toBe('mixed % é \t ✓');
  });

  it('encodes a space at either end, which an HTTP/2 field value may not have (a client would drop the whole message)', () => {
    expect(encodeGrpcMessage('Resolution note: ')).toBe('Resolution note:%20');
    expect(encodeGrpcMessage(' x y ')).toBe('%20x y%20');
    expect(encodeGrpcMessage(' ')).toBe('%20');
  });

  it('is left out for an empty message; grpc-status is always there', () => {
    expect(statusFields({ code: 0, details: '' })).toEqual({ 'grpc-status': '0' });
    expect(statusFields({ code: 5, details: 'no' })).toEqual({ 'grpc-status': '5', 'grpc-message': 'no' });
  });
});

describe('statusOf', () => {
  it('takes a handler error\'s code and details, an NcacheError\'s code, and INTERNAL for anything else', () => {
    expect(statusOf(Object.assign(new Error('x'), { code: 5, details: 'In A.b: gone' }))).toEqual({ code: 5, details: 'In A.b: gone' });
    expect(statusOf(new NcacheError('OUT_OF_RANGE', 'past the end'))).toEqual({ code: 11, details: 'past the end' });
    expect(statusOf(new TypeError('oops')).code).toBe(13);
  });
});

describe('grpc-timeout', () => {
  it('reads every unit, and nothing from a missing or malformed value', () => {
    expect(parseTimeout('2H')).toBe(7_200_000);
    expect(parseTimeout('3M')).toBe(180_000);
    expect(parseTimeout('5S')).toBe(5000);
    expect(parseTimeout('250m')).toBe(250);
    expect(parseTimeout('1500u')).toBe(1.5);
    expect(parseTimeout('2000000n')).toBe(2);
    for (const bad of [undefined, '', '5', 'S', '123456789S', '-1S', '1.5S', '5s', ['5S']]) expect(parseTimeout(bad)).toBeUndefined();
  });
});
