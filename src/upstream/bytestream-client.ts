// ByteStream on an upstream, for one instance: resource names, a streamed
// Read of a range, a flow-controlled Write call, QueryWriteStatus.
// Resumption (a read continued from the bytes received, a write from the
// upstream's committed_size) belongs to the caller, which knows what it holds.
import { randomUUID } from 'node:crypto';
import type { WriteRequest, WriteResponse } from '../proto/reapi.js';
import type { Digest } from '../util/digest.js';
import type { UpstreamChannel } from './channel.js';
import type { ClientStreamCall } from './client-stream.js';
import { BYTESTREAM_READ, BYTESTREAM_WRITE, QUERY_WRITE_STATUS } from './methods.js';

export class ByteStreamClient {
  constructor(
    readonly channel: UpstreamChannel,
    readonly instanceName: string,
  ) {}

  private prefix(): string {
    return this.instanceName === '' ? '' : `${this.instanceName}/`;
  }

  /** `{instance}/blobs/{hash}/{size}`. */
  readName(digest: Digest): string {
    return `${this.prefix()}blobs/${digest.hash}/${digest.sizeBytes}`;
  }

  /** `{instance}/uploads/{uuid}/blobs/{hash}/{size}`, a fresh uuid each call. */
  uploadName(digest: Digest): string {
    return `${this.prefix()}uploads/${randomUUID()}/blobs/${digest.hash}/${digest.sizeBytes}`;
  }

  /**
   * The bytes [offset, offset + limit) of a blob (limit 0: to the end), as the
   * upstream sends them. Errors (NOT_FOUND for a missing blob) come from the
   * iteration; stopping early cancels the call.
   */
  async *read(digest: Digest, offset: number, limit: number): AsyncGenerator<Buffer> {
    const messages = this.channel.serverStream(
      BYTESTREAM_READ,
      { resourceName: this.readName(digest), readOffset: offset, readLimit: limit },
      this.instanceName,
    );
    for await (const message of messages) {
      if (message.data.length > 0) yield message.data;
    }
  }

  /** Opens a Write call; the caller sends WriteRequests (resource name on the first) and ends it. */
  openWrite(): Promise<ClientStreamCall<WriteRequest, WriteResponse>> {
    return this.channel.clientStream(BYTESTREAM_WRITE, this.instanceName);
  }

  /** How much of an upload the upstream has committed, and whether it is complete. */
  queryWriteStatus(resourceName: string): Promise<{ committedSize: number; complete: boolean }> {
    return this.channel.unary(QUERY_WRITE_STATUS, { resourceName }, this.instanceName);
  }
}
