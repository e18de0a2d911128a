// A ByteStream read of [start, end) from an upstream that survives a broken
// stream: when the stream fails with a failure the retry policy repeats, a new
// Read continues from the bytes already delivered (up to max_retries times in
// all, with backoff). A stream that ends short of `end` counts as broken.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ByteStreamClient } from '../../upstream/bytestream-client.js';
import { UpstreamError } from '../../upstream/errors.js';
import { BYTESTREAM_READ } from '../../upstream/methods.js';
import type { Digest } from '../../util/digest.js';

export interface ReadProgress {
  /** Called with each piece's length as it is delivered (stats). */
  onBytes(n: number): void;
}

export async function* resumableRead(
  bs: ByteStreamClient,
  digest: Digest,
  start: number,
  end: number,
  progress: ReadProgress,
): AsyncGenerator<Buffer> {
  const channel = bs.channel;
  let at = start;
  let resumes = 0;
  while (at < end) {
    try {
      for await (const chunk of bs.read(digest, at, end - at)) {
        // Never more than asked for, whatever the upstream sends.
        const piece = chunk.length > end - at ? chunk.subarray(0, end - at) : chunk;
        at += piece.length;
        progress.onBytes(piece.length);
        yield piece;
        if (at >= end) return;
      }
      throw shortRead(bs, at, end);
    } catch (err) {
      if (!channel.retryable(err) || resumes >= channel.retryPolicy.max_retries) throw err;
      await channel.backoff(resumes++);
    }
  }
}

function shortRead(bs: ByteStreamClient, at: number, end: number): UpstreamError {
  const site = { address: bs.channel.addresses.join(', '), instance: bs.instanceName, rpc: BYTESTREAM_READ.label };
  return new UpstreamError(GrpcStatus.UNAVAILABLE, site, `the stream ended at byte ${at}, before byte ${end}`);
}
