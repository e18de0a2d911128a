// The upstream client layer against a real ncache daemon over loopback
// (startDaemon, memory stores): every wrapped RPC, errors that name the
// upstream, the retry policy, failover between endpoints, and the limiter.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ActionResultCodec } from '../../src/proto/reapi.js';
import { AcClient } from '../../src/upstream/ac-client.js';
import { ByteStreamClient } from '../../src/upstream/bytestream-client.js';
import { CasClient } from '../../src/upstream/cas-client.js';
import { UpstreamError } from '../../src/upstream/errors.js';
import { digestOf } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { startFixture } from '../daemon/fixture.js';
import { closedPort } from '../helpers/ports.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { connectionSpec, endpoint, openChannel } from './channel-helpers.js';

const cleanups = cleanupsAfterEach();

async function cluster(instanceName = 'main') {
  const f = await startFixture({ instanceName, completeness: false });
  cleanups.push(() => f.stop());
  return { f, address: `grpc://${f.address}` };
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('UpstreamChannel against a real daemon', () => {
  it('speaks Capabilities, CAS, AC and ByteStream for one instance', async () => {
    const { address } = await cluster();
    const channel = openChannel(connectionSpec([endpoint(address)]), cleanups);
    const cas = new CasClient(channel, 'main');
    const caps = await cas.getCapabilities();
    expect(caps.cacheCapabilities?.digestFunctions).toContain(1);

    const small = Buffer.from('a small blob');
    const other = randomBytes(1000);
    expect(await cas.findMissingBlobs([digestOf(small), digestOf(other)])).toHaveLength(2);
    await cas.batchUpdateBlobs([{ digest: digestOf(small), data: small }]);
    expect(await cas.findMissingBlobs([digestOf(small), digestOf(other)])).toEqual([digestOf(other)]);
    const read = await cas.batchReadBlobs([digestOf(small), digestOf(other)]);
    expect(read[0]).toEqual({ digest: digestOf(small), data: small });
    const missing = read[1]!;
    expect('error' in missing && errorCode(missing.error)).toBe('NOT_FOUND');

    const ac = new AcClient(channel, 'main');
    const actionDigest = digestOf(Buffer.from('an action'));
    expect(await ac.getActionResult(actionDigest)).toBeUndefined();
    await ac.updateActionResult(actionDigest, { exitCode: 3, stdoutRaw: Buffer.from('out') });
    const result = await ac.getActionResult(actionDigest);
    expect(result?.exitCode).toBe(3);
    expect(ActionResultCodec.decode(ActionResultCodec.encode(result!)).exitCode).toBe(3);
  });

  it('writes a blob through a flow-controlled ByteStream.Write and reads ranges of it back', async () => {
    const { address } = await cluster();
    const channel = openChannel(connectionSpec([endpoint(address)]), cleanups);
    const bs = new ByteStreamClient(channel, 'main');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const digest = digestOf(data);
    const name = bs.uploadName(digest);
    expect(name).toMatch(new RegExp(`^main/uploads/[0-9a-f-]{36}/blobs/${digest.hash}/${data.length}$`));
    const call = await bs.openWrite();
    const chunk = 64 * 1024;
    for (let at = 0; at < data.length; at += chunk) {
      const last = at + chunk >= data.length;
      const sent = await call.send({ resourceName: at === 0 ? name : '', writeOffset: at, data: data.subarray(at, at + chunk), finishWrite: last });
      expect(sent).toBe(true);
    }
    call.end();
    expect((await call.response).committedSize).toBe(data.length);
    expect(await bs.queryWriteStatus(name)).toEqual({ committedSize: data.length, complete: true });

    expect((await collect(bs.read(digest, 0, 0))).equals(data)).toBe(true);
    expect((await collect(bs.read(digest, 1_000_000, 70_000))).equals(data.subarray(1_000_000, 1_070_000))).toBe(true);
  });

  it('a missing blob reads as NOT_FOUND naming the upstream, never retried', async () => {
    const { address } = await cluster();
    const channel = openChannel(connectionSpec([endpoint(address)], { retry: { max_retries: 5, delay: 0, jitter: 0 } }), cleanups);
    const bs = new ByteStreamClient(channel, 'main');
    const err = await collect(bs.read(digestOf(Buffer.from('never written')), 0, 0)).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('NOT_FOUND');
    expect(String(err)).toContain(`upstream ${address} (instance "main") ByteStream.Read: NOT_FOUND`);
    const ac = new AcClient(channel, 'main');
    expect(await ac.getActionResult(digestOf(Buffer.from('no action')))).toBeUndefined();
    expect(channel.counters()).toEqual({ requests: 2, retries: 0, errors: 2 });
  });

  it('nothing listening: UNAVAILABLE naming the address, the instance and the RPC, after the retries', async () => {
    const address = `grpc://127.0.0.1:${await closedPort()}`;
    const channel = openChannel(connectionSpec([endpoint(address)], { retry: { max_retries: 2, delay: 0.001, jitter: 0 } }), cleanups);
    const err = await new CasClient(channel, 'main').findMissingBlobs([digestOf(Buffer.from('x'))]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(errorCode(err)).toBe('UNAVAILABLE');
    expect(String(err)).toMatch(
      new RegExp(`upstream ${address.replace(/\./g, '\\.')} \\(instance "main"\\) ContentAddressableStorage\\.FindMissingBlobs: UNAVAILABLE: .*ECONNREFUSED`),
    );
    expect(channel.counters()).toEqual({ requests: 3, retries: 2, errors: 3 });
  });

  it('retry_on_errors narrows what is retried', async () => {
    const address = `grpc://127.0.0.1:${await closedPort()}`;
    const retry = { max_retries: 3, delay: 0, jitter: 0, retry_on_errors: ['DeadlineExceeded'] };
    const channel = openChannel(connectionSpec([endpoint(address)], { retry }), cleanups);
    await expect(new CasClient(channel, '').getCapabilities()).rejects.toThrow(/UNAVAILABLE/);
    expect(channel.counters().retries).toBe(0);
  });

  it('takes endpoints and connections in turn, so a retry fails over from a dead endpoint', async () => {
    const { address } = await cluster();
    const dead = `grpc://127.0.0.1:${await closedPort()}`;
    const spec = connectionSpec([endpoint(dead), endpoint(address)], { retry: { max_retries: 1, delay: 0, jitter: 0 }, connections_per_endpoint: 2 });
    const channel = openChannel(spec, cleanups);
    const cas = new CasClient(channel, 'main');
    for (let i = 0; i < 4; i++) expect((await cas.getCapabilities()).cacheCapabilities).not.toBeNull();
    // Each call's first attempt met the dead endpoint, its retry the live one.
    expect(channel.counters()).toEqual({ requests: 8, retries: 4, errors: 4 });
    const leases = await Promise.all([0, 1, 2, 3].map(() => channel.acquire()));
    for (const lease of leases) lease.release();
    expect(leases.map((l) => l.address).sort()).toEqual([address, address, dead, dead].sort());
  });

  it('max_concurrent_requests and an endpoint concurrency_limit hold calls back until a slot frees', async () => {
    const { address } = await cluster();
    for (const spec of [
      connectionSpec([endpoint(address)], { max_concurrent_requests: 1 }),
      connectionSpec([endpoint(address, { concurrency_limit: 1 })]),
    ]) {
      const channel = openChannel(spec, cleanups);
      const first = await channel.acquire();
      let secondGot = false;
      const second = channel.acquire().then((lease) => {
        secondGot = true;
        return lease;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(secondGot).toBe(false);
      first.release();
      (await second).release();
      expect(secondGot).toBe(true);
    }
  });

  it('rpc_timeout_s is the deadline of a unary call', async () => {
    const { address } = await cluster();
    const channel = openChannel(connectionSpec([endpoint(address)], { rpc_timeout_s: 30 }), cleanups);
    const before = Date.now();
    const deadline = channel.unaryOptions().deadline;
    expect(typeof deadline === 'number' && deadline >= before + 30_000).toBe(true);
    expect(openChannel(connectionSpec([endpoint(address)]), cleanups).unaryOptions()).toEqual({});
  });
});
