// The daemon's gRPC listener (src/daemon/grpc-server/) at the protocol level:
// a raw node:http2 client sends what gRPC clients send (and what they should
// not), and reads headers, framed messages and trailers as they arrive.
import { status } from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameHeader } from '../../../src/daemon/grpc-server/frames.js';
import { FindMissingBlobsRequestCodec, ServerCapabilitiesCodec, WriteRequestCodec, codecFor } from '../../../src/proto/reapi.js';
import { digestOf } from '../../../src/util/digest.js';
import { deterministicBytes } from '../../helpers/data.js';
import { blobName, uploadName } from '../../helpers/grpc-client.js';
import { grpcError } from '../../helpers/grpc-matchers.js';
import { waitFor } from '../../helpers/wait-for.js';
import { type Fixture, startFixture } from '../fixture.js';

const CAPABILITIES = '/build.bazel.remote.execution.v2.Capabilities/GetCapabilities';
const READ = '/google.bytestream.ByteStream/Read';
const WRITE = '/google.bytestream.ByteStream/Write';
const GetCapabilitiesRequestCodec = codecFor('build.bazel.remote.execution.v2.GetCapabilitiesRequest');
const ReadRequestCodec = codecFor('google.bytestream.ReadRequest');
const ReadResponseCodec = codecFor<{ data: Buffer }>('google.bytestream.ReadResponse');

/** The messages of a response body, each checked against its 5-byte prefix. */
function messagesOf(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < body.length) {
    expect(body[pos]).toBe(0);
    const length = body.readUInt32BE(pos + 1);
    expect(pos + 5 + length).toBeLessThanOrEqual(body.length);
    out.push(body.subarray(pos + 5, pos + 5 + length));
    pos += 5 + length;
  }
  return out;
}

const framed = (message: Buffer) => Buffer.concat([frameHeader(message.length), message]);

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  data: Buffer;
}

let f: Fixture;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  f = await startFixture({ storeKind: 'filesystem' });
  session = http2.connect(`http://${f.address}`);
});

afterAll(async () => {
  session.close();
  await f.stop();
});

/** One call on the shared connection: `body` sent and the request ended unless `keepOpen`. */
function call(path: string, body: Buffer, extra: http2.OutgoingHttpHeaders = {}, keepOpen = false): Promise<Answer> {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
  return new Promise((resolve, reject) => {
    const answer: Answer = { headers: {}, trailers: {}, data: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (answer.headers = h));
    stream.on('trailers', (t) => (answer.trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    // The response is whole once the server ended its side (a gRPC client then closes the call, as here).
    const done = () => {
      resolve({ ...answer, data: Buffer.concat(chunks) });
      stream.close();
    };
    stream.once('end', done);
    stream.once('close', done);
    if (keepOpen) stream.write(body);
    else stream.end(body);
  });
}

describe('the gRPC listener', () => {
  it('answers a unary call with headers, one framed message and grpc-status 0 in trailers', async () => {
    const answer = await call(CAPABILITIES, framed(GetCapabilitiesRequestCodec.encode({ instanceName: '' })));
    expect(answer.headers[':status']).toBe(200);
    expect(answer.headers['content-type']).toBe('application/grpc');
    expect(answer.trailers['grpc-status']).toBe('0');
    expect(answer.data.readUInt32BE(1)).toBe(answer.data.length - 5);
    expect(ServerCapabilitiesCodec.decode(answer.data.subarray(5)).cacheCapabilities?.digestFunctions).toEqual([1]);
  });

  it('answers an unknown method UNIMPLEMENTED, in a trailers-only response naming it', async () => {
    const answer = await call('/no.Such/Method', framed(Buffer.alloc(0)));
    expect(answer.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
    expect(answer.headers['grpc-message']).toBe('The server does not implement the method /no.Such/Method');
    expect(answer.data.length).toBe(0);
  });

  it('answers a request that is not gRPC with HTTP 415', async () => {
    const answer = await call('/', Buffer.alloc(0), { ':method': 'POST', 'content-type': 'text/plain' });
    expect(answer.headers[':status']).toBe(415);
  });

  it('refuses a compressed request message with UNIMPLEMENTED, and the connection serves the next call', async () => {
    const message = framed(GetCapabilitiesRequestCodec.encode({ instanceName: '' }));
    message[0] = 1;
    const refused = await call(CAPABILITIES, message, { 'grpc-encoding': 'gzip' });
    expect(refused.headers['grpc-status'] ?? refused.trailers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
    expect(refused.headers['grpc-accept-encoding']).toBe('identity');
    const next = await call(CAPABILITIES, framed(GetCapabilitiesRequestCodec.encode({ instanceName: '' })));
    expect(next.trailers['grpc-status']).toBe('0');
  });

  it('refuses a unary call with a second message, or one that ends inside its message', async () => {
    const one = framed(GetCapabilitiesRequestCodec.encode({ instanceName: '' }));
    const two = await call(CAPABILITIES, Buffer.concat([one, one]));
    expect(two.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
    const cut = await call(CAPABILITIES, one.subarray(0, 3));
    expect(cut.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
  });

  it('sends status messages percent-encoded, and a gRPC client reads them back whole', async () => {
    const name = 'blobs/é✓/12';
    const answer = await call(READ, framed(ReadRequestCodec.encode({ resourceName: name })));
    expect(answer.headers['grpc-status']).toBe(String(status.INVALID_ARGUMENT));
    expect(answer.headers['grpc-message']).toMatch(/%C3%A9%E2%9C%93/);
    await expect(f.client.read(name)).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /é✓/));
  });

  it('ends a call at its grpc-timeout: a Write that goes quiet gets DEADLINE_EXCEEDED and nothing is committed', async () => {
    const data = deterministicBytes(64 * 1024, 21);
    const digest = digestOf(data);
    const first = WriteRequestCodec.encode({ resourceName: uploadName('', digest), writeOffset: 0, data: data.subarray(0, 1024) });
    const answer = await call(WRITE, framed(first), { 'grpc-timeout': '300m' }, true);
    expect(answer.headers['grpc-status'] ?? answer.trailers['grpc-status']).toBe(String(status.DEADLINE_EXCEEDED));
    const missing = await f.client.findMissingBlobs({ blobDigests: [digest] });
    expect(missing.missingBlobDigests).toEqual([digest]);
  });

  it('frames every Read message whole, whether its data is one store chunk, a slice of one or several', async () => {
    // 300 KiB is read in one chunk and sliced into 64 KiB messages; 3 MiB in
    // 256 KiB file chunks, each cut in four; 100 bytes is one short message.
    for (const [size, seed] of [
      [100, 31],
      [300 * 1024, 32],
      [3 * 1024 * 1024 + 7, 33],
    ] as const) {
      const data = deterministicBytes(size, seed);
      const digest = await f.client.uploadBlob(data);
      const answer = await call(READ, framed(ReadRequestCodec.encode({ resourceName: blobName('', digest) })));
      expect(answer.trailers['grpc-status']).toBe('0');
      const payloads = messagesOf(answer.data).map((m) => ReadResponseCodec.decode(m).data as Buffer);
      expect(payloads.length).toBe(Math.ceil(size / (64 * 1024)));
      for (const p of payloads) expect(p.length).toBeLessThanOrEqual(64 * 1024);
      expect(Buffer.concat(payloads).equals(data)).toBe(true);
    }
  });

  it('counts a Read the client resets mid-blob as CANCELLED, and keeps serving', async () => {
    const data = deterministicBytes(8 * 1024 * 1024, 22);
    const digest = await f.client.uploadBlob(data);
    const read = f.daemon.metrics.forPath(READ);
    const cancelledBefore = read.byCode[status.CANCELLED]!;
    const stream = session.request({ ':method': 'POST', ':path': READ, 'content-type': 'application/grpc', te: 'trailers' });
    stream.end(framed(ReadRequestCodec.encode({ resourceName: blobName('', digest) })));
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => read.byCode[status.CANCELLED] === cancelledBefore + 1, { what: 'the Read to end as CANCELLED' });
    const missing = await call(
      '/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs',
      framed(FindMissingBlobsRequestCodec.encode({ blobDigests: [digest] })),
    );
    expect(missing.trailers['grpc-status']).toBe('0');
  });
});
