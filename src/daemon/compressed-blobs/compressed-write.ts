// ByteStream Write of `uploads/{uuid}/compressed-blobs/zstd/...`: the zstd
// stream is decoded as it arrives and the decoded bytes go into the same
// UploadSession an uncompressed Write feeds, so hashing, committing and
// resuming work alike. What REAPI fixes for compressed writes:
// - the first write_offset of a stream is an uncompressed offset (where a
//   resumed upload continues, a new zstd stream of the remaining bytes);
//   every later write_offset is that plus the compressed bytes sent since;
// - the declared hash and size are those of the uncompressed bytes, checked
//   after decoding (INVALID_ARGUMENT on a mismatch);
// - an early completion (the blob is already stored) answers committed_size -1.
// A completed Write answers the stream's last offset (first offset plus the
// compressed bytes), the value Bazel and buck2 check for.
import type { WriteRequest } from '../../proto/reapi.js';
import { formatDigest } from '../../util/digest.js';
import { invalidArgument } from '../../util/errors.js';
import type { UploadSession } from '../upload-session.js';
import { BoundedZstdDecoder } from './zstd-codec.js';

/** One Write call feeding an upload session with zstd data. */
export interface ZstdWriteCall {
  /** The resource name of the first message. */
  readonly name: string;
  readonly session: UploadSession;
  /** The first message, whose write_offset the caller has checked against the session. */
  readonly first: WriteRequest;
  /** The next message, or done when the client half-closed (fails on a stall). */
  next(): Promise<IteratorResult<WriteRequest>>;
  /** False once another Write took the session over. */
  stillOwner(): boolean;
  /** Answers the call (once). */
  respond(err: unknown, committedSize?: number): void;
  /** Leaves the session waiting for a resume. */
  detach(): void;
}

export async function receiveZstdWrite(call: ZstdWriteCall): Promise<void> {
  const { session, name } = call;
  const size = session.digest.sizeBytes;
  const feed = new DecodedFeed(session);
  let wireOffset = call.first.writeOffset;
  let msg = call.first;
  for (;;) {
    if (msg.resourceName !== '' && msg.resourceName !== name) {
      throw invalidArgument(`resource_name changed within one Write stream: ${JSON.stringify(msg.resourceName)} after ${JSON.stringify(name)}`);
    }
    if (msg.writeOffset !== wireOffset) {
      throw invalidArgument(
        `write_offset ${msg.writeOffset} for ${JSON.stringify(name)}, expected ${wireOffset} ` +
          "(a compressed Write's first offset plus the compressed bytes sent since)",
      );
    }
    wireOffset += msg.data.length;
    const outcome = await feed.push(msg.data, call.stillOwner);
    if (outcome === 'displaced') return;
    if (outcome === 'stored') {
      // Committed before finish_write: by this stream's own last bytes, or
      // early by another upload of the same blob (REAPI's -1).
      call.respond(null, session.received === size ? wireOffset : -1);
      return;
    }
    if (msg.finishWrite) {
      feed.checkComplete();
      await session.committed;
      call.respond(null, wireOffset);
      return;
    }
    const next = await call.next();
    if (!call.stillOwner()) return;
    if (next.done) {
      if (session.received === size) {
        await session.committed;
        call.respond(null, wireOffset);
      } else {
        // Resumable: QueryWriteStatus tells the uncompressed offset to continue from.
        call.detach();
        call.respond(null, session.received);
      }
      return;
    }
    msg = next.value;
  }
}

/**
 * Decodes one Write stream's zstd data into the session, a buffer at a time
 * (the session's queue pushes back between buffers). The bytes that would
 * complete the blob are held back until their frame has ended, so a frame
 * cut off after its last block (in its checksum) stores nothing.
 */
class DecodedFeed {
  private readonly decoder: BoundedZstdDecoder;
  /** Uncompressed bytes the session held before this stream. */
  private readonly base: number;
  private held: Buffer | undefined;

  constructor(private readonly session: UploadSession) {
    this.base = session.received;
    this.decoder = new BoundedZstdDecoder(session.digest.sizeBytes - this.base, `the zstd data of ${formatDigest(session.digest)}`);
  }

  async push(data: Buffer, stillOwner: () => boolean): Promise<'more' | 'stored' | 'displaced'> {
    const size = this.session.digest.sizeBytes;
    for (const bytes of this.decoder.decode(data)) {
      if (!this.decoder.atFrameEnd && this.session.received + bytes.length === size) {
        // The decoder cannot yield more than the declared size, so this is its last buffer.
        this.held = bytes;
        continue;
      }
      const outcome = await this.deliver(bytes, stillOwner);
      if (outcome !== 'more') return outcome;
    }
    if (this.held === undefined || !this.decoder.atFrameEnd) return 'more';
    const last = this.held;
    this.held = undefined;
    return this.deliver(last, stillOwner);
  }

  private async deliver(bytes: Buffer, stillOwner: () => boolean): Promise<'more' | 'stored' | 'displaced'> {
    await this.session.push(bytes);
    if (!stillOwner()) return 'displaced';
    return this.session.state === 'committed' ? 'stored' : 'more';
  }

  /** At finish_write: whole frames, decoding to exactly the declared size. */
  checkComplete(): void {
    const { digest } = this.session;
    const decoded = this.base + this.decoder.produced;
    if (!this.decoder.atFrameEnd) {
      throw invalidArgument(
        `finish_write in the middle of a zstd frame for ${formatDigest(digest)} (truncated after ${decoded} of ` +
          `${digest.sizeBytes} uncompressed bytes); nothing was stored`,
      );
    }
    if (decoded !== digest.sizeBytes) {
      throw invalidArgument(
        `the zstd data of ${formatDigest(digest)} decompresses to ${decoded} bytes, not ${digest.sizeBytes}; nothing was stored`,
      );
    }
  }
}
