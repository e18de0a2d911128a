// What the grpc store's two flavours (CAS and AC) share: the channel to the
// upstream, the location that identifies it, the byte counters and stats().
import type { GrpcStoreSpec } from '../../config/types.js';
import type { UpstreamChannel } from '../../upstream/channel.js';
import type { GrpcStats } from '../store-stats.js';

export abstract class UpstreamStoreBase {
  readonly kind = 'grpc';
  protected bytesUp = 0;
  protected bytesDown = 0;

  constructor(
    protected readonly spec: GrpcStoreSpec,
    readonly channel: UpstreamChannel,
  ) {}

  /** The upstream's endpoints, instance and store type: what fast_slow's knowledge of this tier is tied to. */
  remoteLocation(): string {
    return `grpc ${this.channel.addresses.join(',')} instance=${JSON.stringify(this.spec.instance_name)} store_type=${this.spec.store_type}`;
  }

  stats(): GrpcStats {
    const c = this.channel.counters();
    return {
      kind: 'grpc',
      storeType: this.spec.store_type,
      instanceName: this.spec.instance_name,
      addresses: this.channel.addresses,
      requests: c.requests,
      errors: c.errors,
      retries: c.retries,
      bytesUploaded: this.bytesUp,
      bytesDownloaded: this.bytesDown,
    };
  }

  async close(): Promise<void> {
    this.channel.close();
  }
}
