// A ByteStream Write of one blob to an upstream that survives a broken
// stream. Bytes go out in pieces of `chunkBytes` as the source yields them,
// with flow control, and the last `windowBytes` sent stay held. When the call
// fails with a failure the retry policy repeats (at most max_retries times in
// all, with backoff), QueryWriteStatus says how much the upstream committed and
// a new call continues from there, if those bytes are still held; otherwise
// the upload fails with UNAVAILABLE naming the upstream. An upstream that
// answers before the end (it had the blob: early completion) ends the upload
// successfully without reading the rest of the source.
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { WriteRequest, WriteResponse } from '../../proto/reapi.js';
import type { ByteStreamClient } from '../../upstream/bytestream-client.js';
import type { ClientStreamCall } from '../../upstream/client-stream.js';
import { UpstreamError } from '../../upstream/errors.js';
import { BYTESTREAM_WRITE } from '../../upstream/methods.js';
import type { Digest } from '../../util/digest.js';
import { isNotFound } from '../../util/errors.js';
import type { ByteStream } from '../store.js';
import { RetainedWindow } from './retained-window.js';

export interface WriteTuning {
  /** Bytes per WriteRequest. */
  readonly chunkBytes: number;
  /** Bytes held for a resume. */
  readonly windowBytes: number;
}

const MIB = 1024 * 1024;
export const DEFAULT_WRITE_TUNING: WriteTuning = { chunkBytes: 256 * 1024, windowBytes: 16 * MIB };

export class ResumableWrite {
  private readonly resource: string;
  private readonly window: RetainedWindow;
  private call: ClientStreamCall<WriteRequest, WriteResponse> | undefined;
  private firstOfCall = true;
  /** Bytes sent on the upload so far (the next write_offset). */
  private sent = 0;
  private resumes = 0;
  private complete = false;

  constructor(
    private readonly bs: ByteStreamClient,
    private readonly digest: Digest,
    private readonly tuning: WriteTuning,
    private readonly onBytes: (n: number) => void,
  ) {
    this.resource = bs.uploadName(digest);
    this.window = new RetainedWindow(tuning.windowBytes);
  }

  /** Uploads exactly digest.sizeBytes bytes of `source` (which checks its own size). */
  async run(source: ByteStream): Promise<void> {
    try {
      for await (const chunk of source) {
        for (let i = 0; i < chunk.length; i += this.tuning.chunkBytes) {
          this.window.push(chunk.subarray(i, i + this.tuning.chunkBytes));
          if (await this.pump()) return;
        }
      }
      await this.finish();
    } finally {
      if (!this.complete) this.call?.cancel();
    }
  }

  /** Sends every byte taken and not yet sent; true once the upstream holds the blob. */
  private async pump(): Promise<boolean> {
    for (;;) {
      try {
        while (!this.complete && this.sent < this.window.end) {
          const piece = this.window.slice(this.sent, this.tuning.chunkBytes);
          const call = this.call ?? (await this.open());
          const last = this.sent + piece.length === this.digest.sizeBytes;
          const request = { resourceName: this.firstOfCall ? this.resource : '', writeOffset: this.sent, data: piece, finishWrite: last };
          this.firstOfCall = false;
          if (!(await call.send(request))) return await this.answered(call);
          this.sent += piece.length;
          this.onBytes(piece.length);
        }
        return this.complete;
      } catch (err) {
        await this.recover(err);
      }
    }
  }

  /** After the last byte: half-close and wait for the upstream's answer, resuming if the call broke. */
  private async finish(): Promise<void> {
    for (;;) {
      if (await this.pump()) return;
      const call = this.call ?? (await this.open());
      try {
        call.end();
        if (await this.answered(call)) return;
      } catch (err) {
        await this.recover(err);
      }
    }
  }

  private async open(): Promise<ClientStreamCall<WriteRequest, WriteResponse>> {
    this.call = await this.bs.openWrite();
    this.firstOfCall = true;
    return this.call;
  }

  /** The upstream answered: done when it committed the whole blob, else an error to recover from. */
  private async answered(call: ClientStreamCall<WriteRequest, WriteResponse>): Promise<boolean> {
    const response = await call.response;
    if (response.committedSize !== this.digest.sizeBytes) {
      throw this.error(GrpcStatus.UNAVAILABLE, `answered committed_size ${response.committedSize} of ${this.digest.sizeBytes} bytes`);
    }
    this.complete = true;
    return true;
  }

  /** A broken call: ask where the upstream stands and continue from there, or rethrow. */
  private async recover(err: unknown): Promise<void> {
    this.call?.cancel();
    this.call = undefined;
    const channel = this.bs.channel;
    if (!channel.retryable(err) || this.resumes >= channel.retryPolicy.max_retries) throw err;
    await channel.backoff(this.resumes++);
    const committed = await this.committedSize();
    if (committed === this.digest.sizeBytes) {
      this.complete = true;
      return;
    }
    if (committed < this.window.start || committed > this.window.end) {
      throw this.error(
        GrpcStatus.UNAVAILABLE,
        `cannot resume the upload: the upstream committed ${committed} bytes, and only bytes ${this.window.start} to ${this.window.end} are still held (${String(err)})`,
      );
    }
    this.sent = committed;
  }

  private async committedSize(): Promise<number> {
    try {
      const status = await this.bs.queryWriteStatus(this.resource);
      return status.complete ? this.digest.sizeBytes : status.committedSize;
    } catch (err) {
      // An upstream that forgot the upload (restarted) has nothing of it.
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  private error(code: GrpcStatus, details: string): UpstreamError {
    const site = { address: this.call?.address ?? this.bs.channel.addresses.join(', '), instance: this.bs.instanceName, rpc: BYTESTREAM_WRITE.label };
    return new UpstreamError(code, site, `${this.resource}: ${details}`);
  }
}
