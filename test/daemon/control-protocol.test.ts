// The control socket's framing, without a socket: frames cut at every
// possible boundary, several frames per chunk, and the checks that protect
// the daemon from a confused or hostile peer.
import { describe, expect, it } from 'vitest';
import {
  FRAME_TYPE_BYTES,
  FRAME_TYPE_JSON,
  FrameDecoder,
  PROTOCOL_VERSION,
  encodeJsonFrame,
  frameHeader,
  parseRequest,
  parseServerMessage,
  type Frame,
} from '../../src/daemon/control/protocol.js';
import { NcacheError } from '../../src/util/errors.js';

function bytesFrame(data: Buffer): Buffer {
  return Buffer.concat([frameHeader(FRAME_TYPE_BYTES, data.length), data]);
}

describe('FrameDecoder', () => {
  const stream = Buffer.concat([
    encodeJsonFrame({ type: 'progress', phase: 'scan', done: 1 }),
    bytesFrame(Buffer.from('hello, blob')),
    bytesFrame(Buffer.alloc(0)),
    encodeJsonFrame({ type: 'result', result: { text: 'ünïcödé ✓' } }),
  ]);
  const expected: Frame[] = [
    { kind: 'json', value: { type: 'progress', phase: 'scan', done: 1 } },
    { kind: 'bytes', data: Buffer.from('hello, blob') },
    { kind: 'bytes', data: Buffer.alloc(0) },
    { kind: 'json', value: { type: 'result', result: { text: 'ünïcödé ✓' } } },
  ];

  it('decodes several frames arriving in one chunk', () => {
    expect(new FrameDecoder().push(stream)).toEqual(expected);
  });

  it('decodes the same frames when the stream is cut at any single point', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      expect(frames, `cut at ${cut}`).toEqual(expected);
      expect(decoder.buffered).toBe(0);
    }
  });

  it('decodes the same frames when they arrive one byte at a time', () => {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i++) frames.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(frames).toEqual(expected);
  });

  it('waits for the rest of a frame instead of returning a partial one', () => {
    const decoder = new FrameDecoder();
    const frame = bytesFrame(Buffer.from('0123456789'));
    expect(decoder.push(frame.subarray(0, 7))).toEqual([]);
    expect(decoder.buffered).toBe(7);
    expect(decoder.push(frame.subarray(7))).toEqual([{ kind: 'bytes', data: Buffer.from('0123456789') }]);
  });

  it('rejects a frame longer than the limit from its header alone, before the payload arrives', () => {
    const decoder = new FrameDecoder(1024);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1025, 0);
    header.writeUInt8(FRAME_TYPE_JSON, 4);
    expect(() => decoder.push(header)).toThrow(/control frame of 1025 bytes exceeds the limit of 1024 bytes/);
    // The default limit protects against a 4 GB length too.
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(0xffffffff, 0);
    huge.writeUInt8(FRAME_TYPE_BYTES, 4);
    expect(() => new FrameDecoder().push(huge)).toThrow(/exceeds the limit/);
  });

  it('rejects an unknown frame type and a JSON frame that does not parse', () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(0, 0);
    header.writeUInt8(7, 4);
    expect(() => new FrameDecoder().push(header)).toThrow(/unknown control frame type 7/);
    const notJson = Buffer.from('{nope');
    expect(() => new FrameDecoder().push(Buffer.concat([frameHeader(FRAME_TYPE_JSON, notJson.length), notJson]))).toThrow(
      /not valid JSON/,
    );
  });

  it('refuses to encode a frame over the limit', () => {
    expect(() => frameHeader(FRAME_TYPE_BYTES, 64 * 1024 * 1024)).toThrow(/exceeds the limit/);
  });
});

describe('parseRequest', () => {
  it('accepts the current version and defaults params to {}', () => {
    expect(parseRequest({ protocol: PROTOCOL_VERSION, method: 'status' })).toEqual({
      protocol: PROTOCOL_VERSION,
      method: 'status',
      params: {},
    });
  });

  it('names both versions when the client speaks another one', () => {
    let error: unknown;
    try {
      parseRequest({ protocol: 99, method: 'status', params: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NcacheError);
    expect((error as NcacheError).code).toBe('FAILED_PRECONDITION');
    expect((error as NcacheError).message).toMatch(/client speaks version 99, this daemon speaks version 1/);
  });

  it('rejects requests without a method or with non-object params', () => {
    expect(() => parseRequest([])).toThrow(/JSON object/);
    expect(() => parseRequest({ protocol: 1 })).toThrow(/no "method"/);
    expect(() => parseRequest({ protocol: 1, method: 'status', params: [1] })).toThrow(/"params" must be a JSON object/);
  });
});

describe('parseServerMessage', () => {
  it('keeps the error code and message, and rejects unknown types', () => {
    expect(parseServerMessage({ type: 'error', code: 'NOT_FOUND', message: 'no blob' })).toEqual({
      type: 'error',
      code: 'NOT_FOUND',
      message: 'no blob',
    });
    expect(() => parseServerMessage({ type: 'surprise' })).toThrow(/unknown type "surprise"/);
    expect(() => parseServerMessage('text')).toThrow(/not a JSON object/);
  });
});
