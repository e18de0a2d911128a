// The control socket's wire format. One request per connection:
//   frame = [u32 big-endian payload length][u8 type][payload]
//   type 1: JSON (UTF-8), type 2: raw bytes (blob content for `get`).
// The client sends one JSON frame {protocol, method, params}; the server sends
// any number of progress / item / bytes frames, then exactly one final
// {type:'result'} or {type:'error'} frame, and closes.
import { NcacheError, type ErrorCode } from '../../util/errors.js';

export const PROTOCOL_VERSION = 1;

/** Frame types (the header's type byte). */
export const FRAME_TYPE_JSON = 1;
export const FRAME_TYPE_BYTES = 2;

/** 5 bytes: length (4) + type (1). */
export const FRAME_HEADER_BYTES = 5;

/**
 * The largest payload either side accepts. JSON frames are small (one item,
 * one progress step); byte frames are cut at BYTES_FRAME_CHUNK. A bigger
 * length is a confused or hostile peer, and must not make us allocate it.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** How blob bytes are cut into frames. */
export const BYTES_FRAME_CHUNK = 256 * 1024;

export interface ControlRequest {
  protocol: number;
  method: string;
  params: Record<string, unknown>;
}

export interface ProgressUpdate {
  phase: string;
  done: number;
  total?: number;
  bytes?: number;
  totalBytes?: number;
}

export type ServerMessage =
  | ({ type: 'progress' } & ProgressUpdate)
  | { type: 'item'; item: unknown }
  | { type: 'result'; result: unknown }
  | { type: 'error'; code: ErrorCode; message: string };

export type Frame = { kind: 'json'; value: unknown } | { kind: 'bytes'; data: Buffer };

/** The 5-byte header of a frame; the payload is written after it as is (no copy). */
export function frameHeader(type: number, payloadBytes: number): Buffer {
  if (payloadBytes > MAX_FRAME_BYTES) {
    throw new NcacheError('INTERNAL', `control frame of ${payloadBytes} bytes exceeds the limit of ${MAX_FRAME_BYTES}`);
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadBytes, 0);
  header.writeUInt8(type, 4);
  return header;
}

export function encodeJsonFrame(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([frameHeader(FRAME_TYPE_JSON, payload.length), payload]);
}

/**
 * Reassembles frames from a byte stream cut anywhere (a header or payload may
 * arrive in pieces). Throws a protocol error for an unknown type, an oversized
 * length or a JSON payload that does not parse.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.pendingBytes < FRAME_HEADER_BYTES) break;
      const header = this.peek(FRAME_HEADER_BYTES);
      const length = header.readUInt32BE(0);
      const type = header.readUInt8(4);
      if (type !== FRAME_TYPE_JSON && type !== FRAME_TYPE_BYTES) {
        throw protocolError(`unknown control frame type ${type} (expected ${FRAME_TYPE_JSON} = JSON or ${FRAME_TYPE_BYTES} = bytes)`);
      }
      if (length > this.maxFrameBytes) {
        throw protocolError(`control frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes} bytes`);
      }
      if (this.pendingBytes < FRAME_HEADER_BYTES + length) break;
      this.take(FRAME_HEADER_BYTES);
      const payload = this.take(length);
      if (type === FRAME_TYPE_BYTES) {
        frames.push({ kind: 'bytes', data: payload });
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(payload.toString('utf8'));
      } catch (err) {
        throw protocolError(`control frame is not valid JSON: ${(err as Error).message}`);
      }
      frames.push({ kind: 'json', value });
    }
    return frames;
  }

  /** The first n buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const first = this.pending[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.pending[0];
    if (n === 0) return Buffer.alloc(0);
    let out: Buffer;
    if (first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.pending);
      out = joined.subarray(0, n);
      this.pending = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.pendingBytes -= n;
    return out;
  }
}

export function protocolError(message: string): NcacheError {
  return new NcacheError('INVALID_ARGUMENT', message);
}

/** Checks the client's first frame; names both versions when they differ. */
export function parseRequest(value: unknown): ControlRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError('the control request must be a JSON object {protocol, method, params}');
  }
  const v = value as Record<string, unknown>;
  if (v.protocol !== PROTOCOL_VERSION) {
    throw new NcacheError(
      'FAILED_PRECONDITION',
      `control protocol mismatch: the client speaks version ${JSON.stringify(v.protocol ?? null)}, this daemon speaks version ` +
        `${PROTOCOL_VERSION} (restart the daemon with the same ncache as the command: ncache stop && ncache start)`,
    );
  }
  if (typeof v.method !== 'string' || v.method === '') throw protocolError('the control request has no "method" string');
  const params = v.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw protocolError(`the control request's "params" must be a JSON object`);
  }
  return { protocol: PROTOCOL_VERSION, method: v.method, params: params as Record<string, unknown> };
}

/** Checks a server frame's shape so the client never acts on garbage. */
export function parseServerMessage(value: unknown): ServerMessage {
  const v = value as { type?: unknown } | null;
  if (typeof v !== 'object' || v === null) throw protocolError('the daemon sent a control frame that is not a JSON object');
  switch (v.type) {
    case 'progress':
    case 'item':
    case 'result':
      return v as ServerMessage;
    case 'error': {
      const e = v as { code?: unknown; message?: unknown };
      return { type: 'error', code: (typeof e.code === 'string' ? e.code : 'INTERNAL') as ErrorCode, message: String(e.message) };
    }
    default:
      throw protocolError(`the daemon sent a control frame of unknown type ${JSON.stringify(v.type)}`);
  }
}
