// Sizes the services agree on: what Capabilities advertises is what the CAS enforces.

/**
 * Largest summed blob size of one BatchUpdateBlobs / BatchReadBlobs call.
 * 4 MiB is what most REAPI clients and servers assume; bigger blobs go
 * through ByteStream.
 */
export const MAX_BATCH_TOTAL_SIZE_BYTES = 4 * 1024 * 1024;

/**
 * gRPC message limit on both directions. Far above the batch limit, so an
 * oversized batch reaches the service and gets a clear INVALID_ARGUMENT
 * instead of gRPC's RESOURCE_EXHAUSTED.
 */
export const MAX_GRPC_MESSAGE_BYTES = 64 * 1024 * 1024;

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
 * Messages a Write call may hold decoded ahead of the upload queue. Node's
 * default for object streams is 16, which at 1 MiB per message is 16 MiB of
 * memory per upload for no gain.
 */
export const WRITE_READ_AHEAD_MESSAGES = 2;
