// The stacks the crash suite kills, each as users run it: the seed's shape as
// `ncache init --aws` writes it (verify > dedup > lz4 > fast_slow over S3,
// here s3rver behind a proxy adding 40 ms to each write), with filesystem
// fast tiers writing S3 behind or with memory fast tiers writing it
// synchronously, and the built-in default
// (templates/local.json5: verify > filesystem). Each gives the suite what it
// needs to look inside after a kill: the catalog file, the bucket, and the
// chunk list the dedup index store holds for a blob.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastTier } from '../../src/commands/init/aws.js';
import { decodeIndexEntry } from '../../src/stores/dedup/index-entry.js';
import { type Digest, digestKey } from '../../src/util/digest.js';
import { DaemonFixture } from '../helpers/daemon-process.js';
import { FaultProxy, type S3Operation } from '../helpers/fault-proxy.js';
import { bucketClient, listObjects, s3DaemonEnv } from '../helpers/s3-daemon.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { awsTemplateConfig, localTemplateConfig } from '../helpers/template-configs.js';

export type CrashStackName = 'seed, filesystem tiers' | 'seed, memory tiers' | 'filesystem default';

/** The bucket behind a seed stack, read straight from s3rver. */
export interface CrashBucket {
  readonly client: S3Client;
  readonly name: string;
  readonly prefix: string;
  /** Object names ("<hash>-<size>") under `${prefix}${part}/`. */
  keys(part: 'index' | 'dedup-cas' | 'ac'): Promise<Set<string>>;
}

export interface CrashStack {
  readonly name: CrashStackName;
  readonly fixture: DaemonFixture;
  readonly catalogPath: string;
  /** Seed stacks only. */
  readonly bucket: CrashBucket | undefined;
  /** Whether the slow tier is written behind (uploads may be owed at the kill). */
  readonly writeBehind: boolean;
  /** The chunk list the dedup index store holds for `blob` (local tier first, then the bucket); undefined if none. */
  indexEntry(blob: Digest): Promise<Digest[] | undefined>;
  cleanup(): Promise<void>;
}

const BUCKET = 'ncache-crash';
const PREFIX = 'team/';
const S3_WRITES: S3Operation[] = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'];
const S3_WRITE_LATENCY_MS = 40;

export async function openCrashStack(name: CrashStackName): Promise<CrashStack> {
  if (name === 'filesystem default') {
    const fixture = await DaemonFixture.withLayout({
      prefix: 'ncache-crash-local-',
      configText: (dataDir) => localTemplateConfig(dataDir),
      env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
      stopTimeoutMs: 10_000,
    });
    return {
      name,
      fixture,
      catalogPath: join(fixture.stateDir, 'catalog.sqlite'),
      bucket: undefined,
      writeBehind: false,
      indexEntry: async () => undefined,
      cleanup: () => fixture.cleanup(),
    };
  }
  const tier: FastTier = name === 'seed, memory tiers' ? { kind: 'memory', sizeText: '200mb', maxBytes: 200e6 } : { kind: 'filesystem' };
  const s3 = await startS3rver({ buckets: [BUCKET] });
  let proxy: FaultProxy | undefined;
  let fixture: DaemonFixture;
  try {
    // S3 slower than the local disk, as it is: writes behind build a backlog for the kill to interrupt.
    proxy = await FaultProxy.start(s3.endpoint);
    proxy.inject({ ops: S3_WRITES, times: Number.POSITIVE_INFINITY, fault: { type: 'latency', ms: S3_WRITE_LATENCY_MS } });
    const endpoint = proxy.endpoint;
    fixture = await DaemonFixture.withLayout({
      prefix: 'ncache-crash-seed-',
      configText: (dataDir) => awsTemplateConfig({ endpoint, bucket: BUCKET, prefix: PREFIX, tier, cacheDir: dataDir }),
      env: s3DaemonEnv,
      stopTimeoutMs: 20_000,
    });
  } catch (err) {
    await proxy?.close();
    await s3.stop();
    throw err;
  }
  const bucket = openBucket(s3);
  return {
    name,
    fixture,
    catalogPath: join(fixture.stateDir, 'catalog.sqlite'),
    bucket,
    writeBehind: tier.kind === 'filesystem',
    indexEntry: async (blob) => {
      const local = await readFile(join(fixture.dataDir, 'index', digestKey(blob))).catch(() => undefined);
      const data = local ?? (await bucketObject(bucket, `${PREFIX}index/${digestKey(blob)}`));
      return data === undefined ? undefined : decodeIndexEntry(blob, data);
    },
    cleanup: async () => {
      await fixture.cleanup();
      bucket.client.destroy();
      await proxy.close();
      await s3.stop();
    },
  };
}

function openBucket(s3: S3rverHandle): CrashBucket {
  const client = bucketClient(s3.endpoint);
  return {
    client,
    name: BUCKET,
    prefix: PREFIX,
    keys: async (part) => {
      const under = `${PREFIX}${part}/`;
      return new Set((await listObjects(client, BUCKET, under)).map((o) => o.key.slice(under.length)));
    },
  };
}

async function bucketObject(bucket: CrashBucket, key: string): Promise<Buffer | undefined> {
  try {
    const out = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}
