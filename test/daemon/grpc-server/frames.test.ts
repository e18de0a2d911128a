// The gRPC message framing the daemon's listener parses requests with.
import { describe, expect, it } from 'vitest';
import { MessageParser, frameHeader } from '../../../src/daemon/grpc-server/frames.js';
import { NcacheError } from '../../../src/util/errors.js';

const framed = (...messages: Buffer[]) => Buffer.concat(messages.flatMap((m) => [frameHeader(m.length), m]));

describe('MessageParser', () => {
  it('finds every message whatever the chunking, byte by byte included, and empty messages', () => {
    const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
    const wire = framed(...messages);
    for (const size of [1, 3, 5, 6, 4096, wire.length]) {
      const parser = new MessageParser(1 << 20);
      const got: Buffer[] = [];
      for (let off = 0; off < wire.length; off += size) got.push(...parser.push(wire.subarray(off, off + size)));
      expect(got.map((m) => m.toString('hex'))).toEqual(messages.map((m) => m.toString('hex')));
      expect(parser.midMessage).toBe(false);
    }
  });

  it('hands a message inside one chunk on as a view of it, not a copy', () => {
    const wire = framed(Buffer.from('abc'));
    const [message] = new MessageParser(100).push(wire);
    expect(message!.buffer).toBe(wire.buffer);
  });

  it('gives a message cut across chunks as the pieces it arrived in, views of those chunks', () => {
    const wire = framed(Buffer.from('0123456789'));
    const first = wire.subarray(0, 9);
    const second = wire.subarray(9);
    const parser = new MessageParser(100);
    expect(parser.pushPieces(first)).toEqual([]);
    const [pieces] = parser.pushPieces(second);
    expect(pieces!.map((p) => p.toString())).toEqual(['0123', '456789']);
    for (const p of pieces!) expect(p.buffer).toBe(wire.buffer);
  });

  it('knows when a message has started but not ended', () => {
    const parser = new MessageParser(100);
    parser.push(framed(Buffer.from('whole')).subarray(0, 7));
    expect(parser.midMessage).toBe(true);
  });

  it('refuses a compressed message (UNIMPLEMENTED) and an unknown flag (INTERNAL)', () => {
    const compressed = framed(Buffer.from('x'));
    compressed[0] = 1;
    expect(() => new MessageParser(100).push(compressed)).toThrow(new NcacheError('UNIMPLEMENTED', 'the client sent a compressed message, but this server accepts no grpc-encoding'));
    compressed[0] = 2;
    expect(() => new MessageParser(100).push(compressed)).toThrow(/compressed flag 2/);
    try {
      new MessageParser(100).push(compressed);
    } catch (err) {
      expect((err as NcacheError).code).toBe('INTERNAL');
    }
  });

  it('refuses a message over the limit from its prefix alone (RESOURCE_EXHAUSTED), before its bytes arrive', () => {
    const parser = new MessageParser(1000);
    expect(() => parser.push(frameHeader(1001))).toThrow(/larger than max \(1001 vs\. 1000\)/);
    expect(new MessageParser(1000).push(framed(Buffer.alloc(1000)))).toHaveLength(1);
  });
});
