// A ByteStream Write client that costs its process as little as it can, for
// the rpc section's upload rows. grpc-js spent 0.8-1.4 s of CPU on one 256 MiB
// upload here, more than the daemon's event loop (0.5-0.6 s), and the two
// share the machine's two cores: the row measured the client as much as the
// daemon. Bazel's client (grpc-java on Netty) frames its messages in place;
// this one does the same over node:http2: each WriteRequest is a small header
// (resource name on the first, offset, finish_write on the last, the data
// field's tag and length) written before the caller's chunk, which is sent as
// it is, never copied into a message buffer.
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import protobuf from 'protobufjs';
import { codecFor, WriteRequestCodec, type WriteResponse } from '../src/proto/reapi.js';
import type { Digest } from '../src/util/digest.js';

const WriteResponseCodec = codecFor<WriteResponse>('google.bytestream.WriteResponse');

/** WriteRequest.data is field 10, length-delimited: (10 << 3) | 2. */
const DATA_TAG = 0x52;

/** The gRPC length prefix and every field of one WriteRequest but the data itself. */
function messageHead(resourceName: string, offset: number, finish: boolean, dataLength: number): Buffer {
  const fields = WriteRequestCodec.encode({ resourceName, writeOffset: offset, finishWrite: finish });
  const dataHead = dataLength > 0 ? protobuf.Writer.create().uint32(DATA_TAG).uint32(dataLength).finish() : new Uint8Array(0);
  const head = Buffer.allocUnsafe(5 + fields.length + dataHead.length);
  head[0] = 0; // not compressed
  head.writeUInt32BE(fields.length + dataHead.length + dataLength, 1);
  fields.copy(head, 5);
  head.set(dataHead, 5 + fields.length);
  return head;
}

export class LeanByteStreamWriter {
  private readonly session: ClientHttp2Session;

  constructor(address: string) {
    // Bazel gives its streams a 1 MiB window; the daemon sets its own receive windows.
    this.session = connect(`http://${address}`, { settings: { initialWindowSize: 1024 * 1024 } });
    this.session.on('error', () => {}); // each write reports its own failure
  }

  close(): void {
    this.session.close();
  }

  /** Uploads `chunks` (adding up to digest.sizeBytes) as blob `digest`; resolves with committed_size. */
  async write(digest: Digest, chunks: Iterable<Buffer>, uploadId: string): Promise<number> {
    const resourceName = `uploads/${uploadId}/blobs/${digest.hash}/${digest.sizeBytes}`;
    const stream = this.session.request({
      ':method': 'POST',
      ':path': '/google.bytestream.ByteStream/Write',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const answer = responseOf(stream, resourceName);
    let offset = 0;
    for (const chunk of chunks) {
      const finish = offset + chunk.length === digest.sizeBytes;
      stream.write(messageHead(offset === 0 ? resourceName : '', offset, finish, chunk.length));
      const flowing = stream.write(chunk);
      offset += chunk.length;
      if (!flowing) await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), answer]);
      if (stream.destroyed) break;
    }
    if (digest.sizeBytes === 0) stream.write(messageHead(resourceName, 0, true, 0));
    stream.end();
    return answer;
  }
}

/** The committed_size of the WriteResponse, or the gRPC status as an error. */
function responseOf(stream: ClientHttp2Stream, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const takeStatus = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) {
        status = String(headers['grpc-status']);
        message = decodeURIComponent(String(headers['grpc-message'] ?? ''));
      }
    };
    stream.on('response', takeStatus);
    stream.on('trailers', takeStatus);
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => {
      if (status !== '0') {
        reject(new Error(`${what}: grpc-status ${status ?? '(none)'} ${message}`));
        return;
      }
      const body = Buffer.concat(received);
      if (body.length < 5) {
        reject(new Error(`${what}: no WriteResponse in the answer`));
        return;
      }
      resolve(WriteResponseCodec.decode(body.subarray(5, 5 + body.readUInt32BE(1))).committedSize);
    });
  });
}
