// The grpc store with store_type "ac": another REAPI server's action cache.
// A value is a serialized ActionResult, relayed as the upstream returns it
// (ncache asks it to inline nothing; its own AC service inlines on the way
// out). has, getPart and getWithSize are GetActionResult (a miss is
// NOT_FOUND / undefined), a value fetched by has() serving a read within
// RECENT_TTL_MS (recent-values.ts); update decodes the value and sends UpdateActionResult.
import { type ActionResult, ActionResultCodec } from '../../proto/reapi.js';
import { AcClient } from '../../upstream/ac-client.js';
import type { UpstreamChannel } from '../../upstream/channel.js';
import { mapConcurrent } from '../../util/concurrency.js';
import { type Digest, digestKey } from '../../util/digest.js';
import { errorMessage, invalidArgument, notFound } from '../../util/errors.js';
import type { GrpcStoreSpec } from '../../config/types.js';
import type { Clock } from '../../util/clock.js';
import { type ByteStream, type StoreDriver, checkRange, exactSize } from '../store.js';
import { RecentValues } from './recent-values.js';
import { UpstreamStoreBase } from './upstream-store-base.js';

/** An ActionResult larger than this is not an action result anyone sends. */
const MAX_ACTION_RESULT_BYTES = 64 * 1024 * 1024;
/** GetActionResult calls of one has() in flight at once. */
const HAS_PARALLEL = 8;
/** How long a value fetched by has() serves a getPart() (fast_slow reads right after asking). */
export const RECENT_TTL_MS = 2000;

export class GrpcAcStore extends UpstreamStoreBase implements StoreDriver {
  private readonly ac: AcClient;
  private readonly recent: RecentValues;

  constructor(spec: GrpcStoreSpec, channel: UpstreamChannel, clock: Clock) {
    super(spec, channel);
    this.ac = new AcClient(channel, spec.instance_name);
    this.recent = new RecentValues(clock, RECENT_TTL_MS, 1000, 16 * 1024 * 1024);
  }

  has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return mapConcurrent(keys, HAS_PARALLEL, async (key) => {
      const value = await this.fetch(key);
      if (value !== undefined) this.recent.set(digestKey(key), value);
      return value?.length;
    });
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const what = `${this.channel.description} action result ${digestKey(key)}`;
    const value = this.recent.get(digestKey(key)) ?? (await this.fetch(key));
    if (value === undefined) throw notFound(`${what}: not found`);
    const { start, end } = checkRange(what, value.length, offset, length);
    return bufferStream(value.subarray(start, end));
  }

  /** One GetActionResult: fast_slow's fill learns the value and its size together. */
  async getWithSize(key: Digest): Promise<{ size: number; stream: ByteStream }> {
    const value = this.recent.get(digestKey(key)) ?? (await this.fetch(key));
    if (value === undefined) throw notFound(`${this.channel.description} action result ${digestKey(key)}: not found`);
    return { size: value.length, stream: bufferStream(value) };
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    const what = `action result ${digestKey(key)} for ${this.channel.description}`;
    if (size > MAX_ACTION_RESULT_BYTES) throw invalidArgument(`${what}: ${size} bytes is larger than an action result may be (${MAX_ACTION_RESULT_BYTES})`);
    const parts: Buffer[] = [];
    for await (const chunk of exactSize(source, size, what)) parts.push(chunk);
    const bytes = Buffer.concat(parts);
    this.recent.delete(digestKey(key));
    await this.ac.updateActionResult(key, decodeActionResult(bytes, what));
    this.bytesUp += bytes.length;
  }

  /** The serialized ActionResult the upstream holds for `key`, or undefined. */
  private async fetch(key: Digest): Promise<Buffer | undefined> {
    const result = await this.ac.getActionResult(key);
    if (result === undefined) return undefined;
    const bytes = ActionResultCodec.encode(result);
    this.bytesDown += bytes.length;
    return bytes;
  }
}

function bufferStream(bytes: Buffer): ByteStream {
  return (async function* () {
    if (bytes.length > 0) yield bytes;
  })();
}

function decodeActionResult(bytes: Buffer, what: string): ActionResult {
  try {
    return ActionResultCodec.decode(bytes);
  } catch (err) {
    throw invalidArgument(`${what}: the value is not an ActionResult (${errorMessage(err)})`);
  }
}
