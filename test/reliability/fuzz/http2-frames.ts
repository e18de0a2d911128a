// Fuzz family 3: broken HTTP/2 below gRPC. Raw TCP connections that send
// garbage instead of the preface, the preface then random bytes, truncated or
// corrupt frames; and real HTTP/2 streams carrying half-sent gRPC messages
// (the length prefix promises more than is sent), oversize length prefixes
// and bad compression flags. Every connection is closed by the client after
// it sends (or answered or dropped by the server first).
// The oracle, checked by the caller: the daemon keeps serving a concurrent
// well-behaved client, does not crash, and its RSS and open files stay bounded.
import { connect as connectHttp2, constants as h2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { SERVICE_NAMES } from '../../../src/proto/reapi.js';
import { Prng } from '../../helpers/prng.js';
import { FuzzFailure, FuzzTally, caseIndices, runPool } from './tally.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One HTTP/2 frame: 9-byte header (24-bit length, type, flags, 31-bit stream id) and payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer, claimedLength = payload.length): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(claimedLength & 0xffffff, 0, 3);
  header[3] = type & 0xff;
  header[4] = flags & 0xff;
  header.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([header, payload]);
}

const SETTINGS = frame(0x4, 0, 0, Buffer.alloc(0));

/** Frames a broken client might send: every type, odd flags, stream ids and lengths, bad settings. */
function corruptFrame(rng: Prng): Buffer {
  const streamId = rng.pick([0, 1, 2, 3, 0x7fffffff, 0xffffffff, rng.uint32()]);
  switch (rng.int(8)) {
    case 0: // any type, random payload
      return frame(rng.int(256), rng.int(256), streamId, rng.bytes(rng.length(512)));
    case 1: // HEADERS with a random HPACK block
      return frame(0x1, rng.pick([0x4, 0x5, 0x24, 0x0]), streamId, rng.bytes(rng.length(256)));
    case 2: // SETTINGS with random (often invalid) values, or a length not a multiple of 6
      return frame(0x4, rng.pick([0, 1]), rng.pick([0, 1]), rng.bytes(rng.chance(0.5) ? 6 * rng.between(1, 6) : rng.between(1, 13)));
    case 3: // WINDOW_UPDATE: zero, huge, or the wrong size
      return frame(0x8, 0, streamId, rng.chance(0.7) ? Buffer.from([0, 0, 0, 0].map(() => rng.pick([0, 0xff, rng.int(256)]))) : rng.bytes(rng.between(0, 9)));
    case 4: // PING of the wrong length, RST_STREAM on stream 0, GOAWAY with junk
      return frame(rng.pick([0x6, 0x3, 0x7]), rng.int(2), rng.pick([0, streamId]), rng.bytes(rng.between(0, 20)));
    case 5: // DATA on a stream that was never opened
      return frame(0x0, rng.pick([0, 1, 8]), streamId, rng.bytes(rng.length(1024)));
    case 6: // a length larger than the default max frame size (16384)
      return frame(rng.int(10), 0, streamId, rng.bytes(rng.length(64)), rng.between(16_385, 0xffffff));
    default: // CONTINUATION with no HEADERS before it
      return frame(0x9, rng.int(256), streamId, rng.bytes(rng.length(128)));
  }
}

export type Http2CaseKind =
  | 'garbage instead of preface'
  | 'preface then random bytes'
  | 'truncated frame'
  | 'corrupt frames'
  | 'half-sent gRPC message'
  | 'oversize length prefix'
  | 'bad compressed flag';

const KINDS: readonly Http2CaseKind[] = [
  'garbage instead of preface',
  'preface then random bytes',
  'truncated frame',
  'corrupt frames',
  'half-sent gRPC message',
  'oversize length prefix',
  'bad compressed flag',
];

/** The bytes a raw-TCP case sends before closing its end. */
function rawBytes(kind: Http2CaseKind, rng: Prng): Buffer {
  switch (kind) {
    case 'garbage instead of preface':
      return rng.chance(0.3) ? Buffer.concat([PREFACE.subarray(0, rng.int(PREFACE.length)), rng.bytes(rng.length(256))]) : rng.bytes(rng.between(1, 2048));
    case 'preface then random bytes':
      return Buffer.concat([PREFACE, rng.chance(0.5) ? SETTINGS : Buffer.alloc(0), rng.bytes(rng.between(1, 4096))]);
    case 'truncated frame': {
      const whole = corruptFrame(rng);
      return Buffer.concat([PREFACE, SETTINGS, whole.subarray(0, rng.int(whole.length))]);
    }
    default:
      return Buffer.concat([PREFACE, SETTINGS, ...Array.from({ length: rng.between(1, 6) }, () => corruptFrame(rng))]);
  }
}

/** The frame types the server sent back, as names ("GOAWAY", ...), read loosely from the raw bytes. */
function frameTypes(bytes: Buffer): string[] {
  const names: Record<number, string> = { 0: 'DATA', 1: 'HEADERS', 3: 'RST_STREAM', 4: 'SETTINGS', 6: 'PING', 7: 'GOAWAY', 8: 'WINDOW_UPDATE' };
  const out: string[] = [];
  for (let pos = 0; pos + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(pos, 3);
    out.push(names[bytes[pos + 3]!] ?? `type ${bytes[pos + 3]}`);
    pos += 9 + length;
  }
  return out;
}

/** Sends `bytes` on a fresh TCP connection, half-closes, and reports how the connection ended. */
function rawCase(host: string, port: number, bytes: Buffer, boundMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port });
    const received: Buffer[] = [];
    // HTTP/2 lets a server wait for the rest of a frame, so a connection the
    // server keeps is not a failure: the client closes it, and the daemon
    // must then let go of it (the caller checks its open files).
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('kept open until the client closed');
    }, boundMs);
    socket.on('data', (b: Buffer) => received.push(b));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const sent = frameTypes(Buffer.concat(received));
      resolve(sent.includes('GOAWAY') ? 'closed with GOAWAY' : received.length > 0 ? 'closed after an answer' : 'closed');
    });
    socket.on('connect', () => socket.end(bytes));
  });
}

/** A gRPC request on a real HTTP/2 stream whose body is `body`; the stream is ended or the session destroyed after it. */
function grpcStreamCase(host: string, port: number, path: string, body: Buffer, abrupt: boolean, boundMs: number): Promise<string> {
  return new Promise((resolve) => {
    const session = connectHttp2(`http://${host}:${port}`);
    let settled = false;
    const finish = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('no answer after the stream ended'), boundMs);
    session.on('error', () => finish('session error'));
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      [h2.HTTP2_HEADER_TE]: 'trailers',
    });
    stream.on('error', () => finish('stream reset'));
    stream.on('trailers', (t) => finish(`grpc-status ${String(t['grpc-status'])}`));
    stream.on('response', (headers) => {
      // A trailers-only answer carries grpc-status in the response headers.
      if (headers['grpc-status'] !== undefined) finish(`grpc-status ${String(headers['grpc-status'])}`);
    });
    stream.on('data', () => {});
    stream.on('close', () => finish('stream closed'));
    stream.write(body, () => {
      if (abrupt) finish('dropped by the client');
      else stream.end();
    });
  });
}

/** The gRPC message body a stream case sends: a 5-byte prefix (flag, length) and fewer or more bytes than it says. */
function grpcBody(kind: Http2CaseKind, rng: Prng): Buffer {
  const prefix = Buffer.alloc(5);
  if (kind === 'half-sent gRPC message') {
    const claimed = rng.between(1, 1 << 20);
    prefix.writeUInt32BE(claimed, 1);
    return Buffer.concat([prefix.subarray(0, rng.chance(0.2) ? rng.int(5) : 5), rng.bytes(Math.min(claimed - 1, rng.length(2048)))]);
  }
  if (kind === 'oversize length prefix') {
    prefix.writeUInt32BE(rng.between(0x1000_0000, 0xffff_ffff), 1);
    return Buffer.concat([prefix, rng.bytes(rng.length(4096))]);
  }
  // bad compressed flag: compressed without a grpc-encoding header, or a flag byte that is neither 0 nor 1
  prefix[0] = rng.pick([1, 2, 0x80, 0xff]);
  const payload = rng.bytes(rng.length(256));
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

export interface Http2FuzzOptions {
  readonly seed: number;
  readonly cases: number;
  readonly concurrency?: number;
  /** How long a raw connection waits for the server to close it, and a gRPC stream for its answer. */
  readonly closeBoundMs?: number;
}

/** A gRPC stream the client ended must get an answer. */
const STUCK = 'no answer after the stream ended';

export async function fuzzHttp2Frames(address: string, opts: Http2FuzzOptions): Promise<FuzzTally> {
  const tally = new FuzzTally('HTTP/2 frames', opts.seed);
  const sep = address.lastIndexOf(':');
  const host = address.slice(0, sep);
  const port = Number(address.slice(sep + 1));
  const paths = Object.values(SERVICE_NAMES).flatMap((s) => [`/${s}/Nope`, `/${s}/`]);
  paths.push(
    '/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs',
    '/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchUpdateBlobs',
    '/google.bytestream.ByteStream/Write',
    '/google.bytestream.ByteStream/Read',
    '/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult',
    '/grpc.health.v1.Health/Check',
  );
  const bound = opts.closeBoundMs ?? 1_000;
  const runCase = async (index: number) => {
    const rng = Prng.forCase(opts.seed, index);
    const kind = rng.pick(KINDS);
    let input: string;
    let outcome: string;
    if (kind === 'half-sent gRPC message' || kind === 'oversize length prefix' || kind === 'bad compressed flag') {
      const path = rng.pick(paths);
      const body = grpcBody(kind, rng);
      const abrupt = rng.chance(0.5);
      input = `${kind} ${path} ${abrupt ? 'then destroyed' : 'then ended'} ${body.toString('hex').slice(0, 200)}`;
      outcome = await grpcStreamCase(host, port, path, body, abrupt, bound);
    } else {
      const bytes = rawBytes(kind, rng);
      input = `${kind} ${bytes.toString('hex').slice(0, 400)}`;
      outcome = await rawCase(host, port, bytes, bound);
    }
    tally.count(outcome, kind);
    if (outcome === STUCK) throw new FuzzFailure(tally.family, opts.seed, index, input, `${outcome} within ${bound} ms`);
  };
  await runPool(caseIndices(opts.cases), opts.concurrency ?? 16, runCase);
  return tally;
}
