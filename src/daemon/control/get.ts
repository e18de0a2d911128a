// `get`: streams one blob (or, with `ac`, one stored ActionResult) to the
// client as binary frames, with the socket's backpressure. When only the hash
// is given, the size is looked up in what the store and the catalog know.
import type { NamedStoreSpec } from '../../config/types.js';
import { isEmptyDigest, type Digest } from '../../util/digest.js';
import { NcacheError, invalidArgument, isNotFound, notFound } from '../../util/errors.js';
import { openPresenceReader } from '../../catalog/slow-tier-presence.js';
import type { GetParams } from './api.js';
import { collectRows } from './ls.js';
import { storeForInstance } from './store-nodes.js';
import type { ControlContext, ControlOutput } from './types.js';

export interface GetResult {
  readonly type: 'cas' | 'ac';
  readonly store: string;
  /** "<hash>/<size>" of the key that was read. */
  readonly digest: string;
  /** Bytes sent (the value's size). */
  readonly size: number;
  /** True when the size was looked up because only the hash was given. */
  readonly sizeResolved: boolean;
}

/**
 * Store chunks go to the output in slices of at most this many bytes (views,
 * no copy), so a client that went away is noticed between slices; the output
 * cuts each slice into frames of BYTES_FRAME_CHUNK.
 */
const SLICE_BYTES = 1 << 20;

export type GetContext = Pick<ControlContext, 'config' | 'stores' | 'catalog'>;

export async function getMethod(
  params: GetParams,
  ctx: GetContext,
  out: Pick<ControlOutput, 'bytes' | 'signal'>,
): Promise<GetResult> {
  const { hash, size } = params;
  const type = params.ac === true ? 'ac' : 'cas';
  const instance = params.instance ?? '';
  const what = type === 'ac' ? 'action cache' : 'CAS';
  const storeName = storeForInstance(ctx.config, type, instance);
  if (storeName === undefined) {
    throw notFound(`no ${what} is configured for instance ${JSON.stringify(instance)} (see servers[].services in the config)`);
  }
  const named = ctx.config.stores.find((s) => s.name === storeName)!;
  const store = ctx.stores.get(storeName);

  let digest: Digest;
  const sizeResolved = size === undefined;
  if (size !== undefined) {
    digest = { hash, sizeBytes: size };
  } else {
    digest = await resolveSize(ctx, named, hash, what);
  }

  if (type === 'cas' && isEmptyDigest(digest)) {
    return { type, store: storeName, digest: `${digest.hash}/0`, size: 0, sizeResolved };
  }
  let stream: AsyncIterable<Buffer>;
  try {
    stream = await store.getPart(digest, 0);
  } catch (err) {
    if (isNotFound(err)) {
      throw notFound(
        type === 'ac'
          ? `no action result for action ${digest.hash}/${digest.sizeBytes} in the action cache (store ${JSON.stringify(storeName)})`
          : `blob ${digest.hash}/${digest.sizeBytes} not found in the CAS (store ${JSON.stringify(storeName)})`,
      );
    }
    throw err;
  }
  let sent = 0;
  for await (const chunk of stream) {
    for (let off = 0; off < chunk.length; off += SLICE_BYTES) {
      if (out.signal.aborted) throw new NcacheError('CANCELLED', 'the client went away');
      const piece = off === 0 && chunk.length <= SLICE_BYTES ? chunk : chunk.subarray(off, off + SLICE_BYTES);
      await out.bytes(piece);
      sent += piece.length;
    }
  }
  return { type, store: storeName, digest: `${digest.hash}/${digest.sizeBytes}`, size: sent, sizeResolved };
}

/** The one size `hash` is stored with; NOT_FOUND when none, INVALID_ARGUMENT when several. */
async function resolveSize(
  ctx: GetContext,
  named: NamedStoreSpec,
  hash: string,
  what: string,
): Promise<Digest> {
  const presence = openPresenceReader(ctx.catalog.path);
  let sizes: number[];
  try {
    const rows = await collectRows(ctx, named, presence, hash);
    sizes = [...new Set([...rows.values()].map((r) => r.key.sizeBytes))].sort((a, b) => a - b);
  } finally {
    presence?.close();
  }
  if (sizes.length === 0) {
    if (what === 'CAS' && isEmptyDigest({ hash, sizeBytes: 0 })) return { hash, sizeBytes: 0 };
    throw notFound(`${hash} is not in the ${what} (store ${JSON.stringify(named.name)}); nothing with that hash is stored`);
  }
  if (sizes.length > 1) {
    throw invalidArgument(
      `${hash} is stored with ${sizes.length} sizes (${sizes.join(', ')}) in the ${what}; ` +
        `name one, e.g. ${hash}/${sizes[0]}`,
    );
  }
  return { hash, sizeBytes: sizes[0]! };
}
