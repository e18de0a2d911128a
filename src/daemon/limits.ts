// Sizes the services agree on: what Capabilities advertises is what the CAS enforces.
import { MAX_CONCURRENT_STREAMS_KEY } from '../config/schema-servers.js';
import type { ServerSpec } from '../config/types.js';
import type { Digest } from '../util/digest.js';
import { invalidArgument } from '../util/errors.js';

/**
 * Largest summed blob size of one BatchUpdateBlobs / BatchReadBlobs call.
 * 4 MiB is what most REAPI clients and servers assume; bigger blobs go
 * through ByteStream.
 */
export const MAX_BATCH_TOTAL_SIZE_BYTES = 4 * 1024 * 1024;

/**
 * What one client of a listener can make the daemon hold, resolved from
 * `listener.http` (NativeLink's keys where it has one, `limits` otherwise).
 * The defaults are far above what a build on a laptop does and still bound
 * a listener others can reach.
 */
export interface ListenerLimits {
  /** Largest gRPC message received (`max_decoding_message_size`). */
  readonly maxReceiveMessageBytes: number;
  /** Largest gRPC message sent (`limits.max_encoding_message_size`). */
  readonly maxSendMessageBytes: number;
  /** HTTP/2 streams (calls) at once per connection (`advanced_http.experimental_http2_max_concurrent_streams`). */
  readonly maxConcurrentStreams: number;
  /** Largest blob one upload may declare (`limits.max_upload_size`). */
  readonly maxUploadBytes: number;
  /** A connection with no call for this long is closed (`limits.idle_timeout`). */
  readonly idleTimeoutMs: number;
  /** A ByteStream Write waiting this long for its next message is dropped (`limits.upload_stall_timeout`). */
  readonly uploadStallMs: number;
  /** Summed blob bytes of one batch call: 4 MiB, or less when a message could not carry that. */
  readonly maxBatchTotalBytes: number;
}

export const LISTENER_LIMIT_DEFAULTS = {
  /**
   * Far above the batch limit, so an oversized batch reaches the service and
   * gets a clear INVALID_ARGUMENT instead of gRPC's RESOURCE_EXHAUSTED.
   * (NativeLink defaults to 4 MiB; ncache keeps the 64 MiB it always had.)
   */
  max_decoding_message_size: 64 * 1024 * 1024,
  max_encoding_message_size: 64 * 1024 * 1024,
  /** Bazel multiplexes its --jobs over few connections; 1000 is far above that and bounds a flood of streams. */
  max_concurrent_streams: 1000,
  /** Larger than any build output we have seen; bounds what one declared size can make a store reserve. */
  max_upload_size: 16 * 1024 * 1024 * 1024,
  /** Seconds; clients reconnect transparently after the server closes an idle connection. */
  idle_timeout: 15 * 60,
  /** Seconds; a client that is uploading never pauses this long between messages. */
  upload_stall_timeout: 60,
};

/** The limits of one listener: its configured values over the defaults. */
export function listenerLimits(http: ServerSpec['listener']['http']): ListenerLimits {
  const d = LISTENER_LIMIT_DEFAULTS;
  const l = http.limits ?? {};
  const receive = http.max_decoding_message_size ?? d.max_decoding_message_size;
  const send = l.max_encoding_message_size ?? d.max_encoding_message_size;
  const streams = http.advanced_http?.[MAX_CONCURRENT_STREAMS_KEY];
  return {
    maxReceiveMessageBytes: receive,
    maxSendMessageBytes: send,
    maxConcurrentStreams: typeof streams === 'number' ? streams : d.max_concurrent_streams,
    maxUploadBytes: l.max_upload_size ?? d.max_upload_size,
    idleTimeoutMs: (l.idle_timeout ?? d.idle_timeout) * 1000,
    uploadStallMs: (l.upload_stall_timeout ?? d.upload_stall_timeout) * 1000,
    // Half the message leaves room for the envelope of many tiny entries.
    maxBatchTotalBytes: Math.min(MAX_BATCH_TOTAL_SIZE_BYTES, Math.floor(Math.min(receive, send) / 2)),
  };
}

/** ByteStream Read message size when the config does not set max_bytes_per_stream. */
export const DEFAULT_READ_CHUNK_BYTES = 256 * 1024;

/** ByteStream Read never sends messages larger than this, whatever the config says. */
export const MAX_READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** Bytes of Read responses handed to gRPC but not yet sent before we wait. */
export const READ_IN_FLIGHT_BYTES = 4 * 1024 * 1024;

/** Bytes an upload may queue ahead of the store before Write stops reading. */
export const UPLOAD_QUEUE_BYTES = 2 * 1024 * 1024;

/** Budget for inlined stdout/stderr/output files in one GetActionResult. */
export const MAX_INLINE_BYTES = 2 * 1024 * 1024;

/** Largest ActionResult (or Directory) message we read whole into memory. */
export const MAX_METADATA_BLOB_BYTES = 32 * 1024 * 1024;

/** Directories per GetTree response when the client leaves page_size at 0. */
export const DEFAULT_TREE_PAGE_SIZE = 1000;

/** Parallel store reads/writes inside one batch or tree call. */
export const BATCH_CONCURRENCY = 32;

/** HTTP/2 receive window per stream (an upload in flight before the client waits). */
export const HTTP2_STREAM_WINDOW_BYTES = 2 * 1024 * 1024;

/** HTTP/2 receive window per connection, shared by its streams. */
export const HTTP2_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;

/**
 * Largest HTTP/2 DATA frame a client may send us (SETTINGS_MAX_FRAME_SIZE;
 * the protocol's default is 16 KiB). Bazel's 16 KiB ByteStream chunks are
 * slightly over 16 KiB once framed, so at the default every upload message
 * costs two frames, and the second is copied to join the first.
 */
export const HTTP2_MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Messages a client-streaming call (Write) holds decoded ahead of its
 * handler before the listener stops reading and HTTP/2 flow control makes
 * the client wait (grpc-server/request-messages.ts). More, at up to 1 MiB
 * per message, would be memory per upload for no gain.
 */
export const WRITE_READ_AHEAD_MESSAGES = 2;

/**
 * Refuses an upload whose declared size is over the listener's limit, before
 * any byte is stored. INVALID_ARGUMENT, as REAPI says for "more than the
 * server supported limit": the request can never succeed as sent, and Bazel
 * retries RESOURCE_EXHAUSTED (kept for a full disk) but not this.
 */
export function checkUploadSize(digest: Digest, maxUploadBytes: number, what: string): void {
  if (digest.sizeBytes <= maxUploadBytes) return;
  throw invalidArgument(
    `${what} declares ${digest.sizeBytes} bytes, over this listener's upload limit of ${maxUploadBytes} ` +
      '(listener.http.limits.max_upload_size); nothing was stored',
  );
}
