// Per-listener limits enforced on a real daemon, seen by real grpc-js clients
// on loopback: stream count, message sizes, upload size, stalled uploads and
// idle connections.
import { type Client, type ServiceError, connectivityState, credentials, makeGenericClientConstructor, status } from '@grpc/grpc-js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NcacheConfig } from '../../src/config/types.js';
import { type ServerCapabilities, serviceDefinition } from '../../src/proto/reapi.js';
import { digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { ReapiClient, blobName, uploadName } from '../helpers/grpc-client.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { waitFor } from '../helpers/wait-for.js';
import { type Fixture, type FixtureOptions, startFixture } from './fixture.js';

type Http = NcacheConfig['servers'][number]['listener']['http'];

async function withDaemon(http: Partial<Http>, use: (f: Fixture) => Promise<void>, opts: FixtureOptions = {}): Promise<void> {
  const f = await startFixture({
    storeKind: 'filesystem',
    ...opts,
    edit: (c) => Object.assign(c.servers[0]!.listener.http, http),
  });
  try {
    await use(f);
  } finally {
    await f.stop();
  }
}

/** GetCapabilities with a deadline, on the given channel. */
function capabilitiesWithin(f: Fixture, ms: number): Promise<ServerCapabilities> {
  const Ctor = makeGenericClientConstructor(serviceDefinition('capabilities') as never, 'capabilities');
  const client = new Ctor(f.address, credentials.createInsecure(), { channelOverride: f.client.channel }) as Client &
    Record<string, (req: unknown, opts: unknown, cb: (err: ServiceError | null, res?: ServerCapabilities) => void) => void>;
  return new Promise((resolve, reject) => {
    client['getCapabilities']!({ instanceName: '' }, { deadline: Date.now() + ms }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

const tempFiles = (f: Fixture) => readdir(join(f.dir, 'cas', 'tmp'));

describe('listener limits', () => {
  it('max concurrent streams: a third call on one connection waits until one of two open streams ends', async () => {
    await withDaemon({ advanced_http: { experimental_http2_max_concurrent_streams: 2 } }, async (f) => {
      const data = deterministicBytes(256 * 1024, 1);
      const names = [uploadName('', digestOf(data)), uploadName('', digestOf(data.subarray(1)))];
      const first = f.client.openWrite();
      const second = f.client.openWrite();
      await first.send({ resourceName: names[0], writeOffset: 0, data: data.subarray(0, 1024) });
      await second.send({ resourceName: names[1], writeOffset: 0, data: data.subarray(1, 1025) });
      // Watched from a connection of its own, which has its own two streams.
      const observer = new ReapiClient(f.address, { 'grpc.use_local_subchannel_pool': 1 });
      try {
        const held = async () => {
          const statuses = await Promise.all(names.map((n) => observer.queryWriteStatus(n).catch(() => undefined)));
          return statuses.every((r) => r?.committedSize === 1024);
        };
        await waitFor(held, { what: 'both uploads to reach the server', intervalMs: 0 });
      } finally {
        observer.close();
      }
      // Both streams are held open: the third cannot start however long it waits.
      await expect(capabilitiesWithin(f, 1000)).rejects.toEqual(grpcError(status.DEADLINE_EXCEEDED));
      await first.send({ resourceName: '', writeOffset: 1024, data: data.subarray(1024), finishWrite: true });
      first.end();
      expect((await first.response).committedSize).toBe(data.length);
      expect((await capabilitiesWithin(f, 10_000)).cacheCapabilities).toBeDefined();
      second.cancel();
    });
  });

  it('max message size: a message over max_decoding_message_size is refused by gRPC, and batches shrink to fit', async () => {
    await withDaemon({ max_decoding_message_size: 1024 * 1024 }, async (f) => {
      const caps = await f.client.getCapabilities();
      expect(caps.cacheCapabilities?.maxBatchTotalSizeBytes).toBe(512 * 1024);
      const big = deterministicBytes(1024 * 1024 + 1, 2);
      await expect(f.client.batchUpdateBlobs({ requests: [{ digest: digestOf(big), data: big }] })).rejects.toEqual(
        grpcError(status.RESOURCE_EXHAUSTED),
      );
      // Under the message limit but over the batch limit: the service's own clear answer.
      const over = deterministicBytes(600 * 1024, 3);
      await expect(f.client.batchUpdateBlobs({ requests: [{ digest: digestOf(over), data: over }] })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /over the limit of 524288/),
      );
    });
  });

  it('max message size: a response over limits.max_encoding_message_size is refused, ByteStream reads still fit', async () => {
    await withDaemon({ limits: { max_encoding_message_size: 4 * 1024 * 1024 } }, async (f) => {
      const actionDigest = digestOf(Buffer.from('action'));
      const stdout = deterministicBytes(5 * 1024 * 1024, 4);
      await expect(
        f.client.updateActionResult({ actionDigest, actionResult: { exitCode: 0, stdoutRaw: stdout } }),
      ).rejects.toEqual(grpcError(status.RESOURCE_EXHAUSTED));
      const blob = deterministicBytes(6 * 1024 * 1024, 5);
      const d = await f.client.uploadBlob(blob);
      expect((await f.client.downloadBlob(d)).equals(blob)).toBe(true);
    }, { maxBytesPerStream: 4 * 1024 * 1024 });
  });

  it('max upload size: a Write or batch entry declaring more is refused at once, naming the limit and the resource', async () => {
    await withDaemon({ limits: { max_upload_size: 1000 } }, async (f) => {
      const big = deterministicBytes(2000, 6);
      const small = deterministicBytes(900, 7);
      const bigDigest = digestOf(big);
      const name = uploadName('', bigDigest);
      const write = f.client.openWrite();
      await write.send({ resourceName: name, writeOffset: 0, data: big.subarray(0, 100) });
      // Answered after the first message, without waiting for the rest.
      await expect(write.response).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, new RegExp(`Write "${name}" declares 2000 bytes, over this listener's upload limit of 1000 \\(listener\\.http\\.limits\\.max_upload_size\\)`)),
      );
      const batch = await f.client.batchUpdateBlobs({
        requests: [
          { digest: bigDigest, data: big },
          { digest: digestOf(small), data: small },
        ],
      });
      expect(batch.responses.map((r) => r.status?.code)).toEqual([status.INVALID_ARGUMENT, status.OK]);
      expect(batch.responses[0]!.status?.message).toMatch(/requests\[0\]: blob [0-9a-f]{64}\/2000 declares 2000 bytes, over this listener's upload limit of 1000/);
      expect((await f.client.findMissingBlobs({ blobDigests: [bigDigest, digestOf(small)] })).missingBlobDigests).toEqual([bigDigest]);
      expect(await tempFiles(f)).toEqual([]);
    });
  });

  it('upload stall: a Write that stops sending is dropped, nothing committed, its temp file gone', async () => {
    await withDaemon({ limits: { upload_stall_timeout: 1 } }, async (f) => {
      const data = deterministicBytes(1024 * 1024, 8);
      const d = digestOf(data);
      const name = uploadName('', d);
      const write = f.client.openWrite();
      await write.send({ resourceName: name, writeOffset: 0, data: data.subarray(0, 64 * 1024) });
      await waitFor(async () => (await tempFiles(f)).length === 1, { what: 'the store to open its temp file', intervalMs: 0 });
      await expect(write.response).rejects.toEqual(
        grpcError(status.DEADLINE_EXCEEDED, /stalled: no bytes for 1 s after 65536 of 1048576 .*nothing was stored/),
      );
      await waitFor(async () => (await tempFiles(f)).length === 0, { what: 'the temp file to be removed', intervalMs: 0 });
      await expect(f.client.queryWriteStatus(name)).rejects.toEqual(grpcError(status.NOT_FOUND));
      expect((await f.client.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests).toEqual([d]);
      // A client that opens a Write and never sends is dropped the same way.
      const silent = f.client.openWrite();
      await expect(silent.response).rejects.toEqual(grpcError(status.DEADLINE_EXCEEDED, /sent no message within 1 s/));
      // A steady upload is unaffected.
      expect((await f.client.write(name, data, { chunkSize: 64 * 1024 })).committedSize).toBe(data.length);
      expect((await f.client.read(blobName('', d))).equals(data)).toBe(true);
    });
  });

  it('idle timeout: a connection with no calls is closed, and the next call reconnects', async () => {
    await withDaemon({ limits: { idle_timeout: 1 } }, async (f) => {
      const client = new ReapiClient(f.address, { 'grpc.use_local_subchannel_pool': 1 });
      try {
        await client.getCapabilities();
        expect(client.channel.getConnectivityState(false)).toBe(connectivityState.READY);
        // The server's GOAWAY moves the channel out of READY; bounded at 20 s.
        const changed = await new Promise<boolean>((resolve) =>
          client.channel.watchConnectivityState(connectivityState.READY, Date.now() + 20_000, (err) => resolve(err === undefined)),
        );
        expect(changed).toBe(true);
        expect(client.channel.getConnectivityState(false)).not.toBe(connectivityState.READY);
        expect((await client.getCapabilities()).cacheCapabilities).toBeDefined();
      } finally {
        client.close();
      }
    });
  });
});
