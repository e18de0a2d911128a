// `ncache ls` through the built CLI against a real daemon (serve in a child
// process, real filesystem stores), with blobs uploaded over real gRPC.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LsEntry } from '../../src/daemon/control/ls.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { type CliDaemon, cliTestEnv, runNcache, shortTempDir, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient } from '../helpers/grpc-client.js';

describe('ncache ls', () => {
  let d: CliDaemon;
  let client: ReapiClient;
  const small = Buffer.from('small blob for ls');
  const medium = Buffer.alloc(5_000, 1);
  const large = Buffer.alloc(300_000, 2);
  let digests: Digest[];
  const action = digestOf(Buffer.from('an action for ls'));

  beforeAll(async () => {
    d = await startCliDaemon();
    client = new ReapiClient(d.address);
    digests = [];
    for (const blob of [small, medium, large]) digests.push(await client.uploadBlob(blob));
    await client.updateActionResult({
      actionDigest: action,
      actionResult: { exitCode: 0, outputFiles: [{ path: 'out/small', digest: digests[0]! }] },
    });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
  });

  const lsJson = async (args: string[]) => {
    const r = await d.run(['ls', '--json', ...args]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as { entries: LsEntry[]; total: number };
  };

  it('--json lists every CAS blob and action result with sizes, tiers and access times', async () => {
    const { entries, total } = await lsJson([]);
    expect(total).toBe(4);
    const cas = entries.filter((e) => e.type === 'cas');
    expect(cas.map((e) => e.digest).sort()).toEqual(digests.map((x) => `${x.hash}/${x.sizeBytes}`).sort());
    for (const e of cas) {
      expect(e.size).toBe(e.sizeBytes);
      expect(e.store).toBe('CAS');
      expect(e.tiers).toEqual(['filesystem']);
      expect(e.storedSize).toBeGreaterThanOrEqual(e.size);
      expect(typeof e.lastAccessMs).toBe('number');
    }
    const ac = entries.filter((e) => e.type === 'ac');
    expect(ac).toHaveLength(1);
    expect(ac[0]).toMatchObject({ store: 'AC', hash: action.hash, sizeBytes: action.sizeBytes, tiers: ['filesystem'] });
    // An action cache entry's size is its ActionResult's, not the key's.
    expect(ac[0]!.size).toBeGreaterThan(0);
    expect(ac[0]!.size).not.toBe(action.sizeBytes);
  });

  it('--cas --sort size --limit 2 gives the two largest blobs, largest first', async () => {
    const { entries, total } = await lsJson(['--cas', '--sort', 'size', '--limit', '2']);
    expect(total).toBe(3);
    expect(entries.map((e) => e.size)).toEqual([large.length, medium.length]);
  });

  it('--ac lists only the action cache; --sort name orders by hash', async () => {
    expect((await lsJson(['--ac'])).entries.map((e) => e.type)).toEqual(['ac']);
    const hashes = (await lsJson(['--cas', '--sort', 'name'])).entries.map((e) => e.hash);
    expect(hashes).toEqual([...hashes].sort());
  });

  it('--sort atime puts the most recently read blob first', async () => {
    // Other ls runs have happened since the uploads, so this read is strictly later than every upload.
    expect(await client.downloadBlob(digests[1]!)).toEqual(medium);
    const { entries } = await lsJson(['--cas', '--sort', 'atime']);
    expect(entries[0]!.digest).toBe(`${digests[1]!.hash}/${digests[1]!.sizeBytes}`);
    const times = entries.map((e) => e.lastAccessMs!);
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('prints an aligned table with human sizes', async () => {
    const r = await d.run(['ls', '--cas', '--sort', 'size']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^type\s+digest\s+size\s+stored\s+tiers\s+last access/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain(`${digests[2]!.hash}/300000`);
    expect(lines[1]).toContain('300 kB');
    // Columns line up: every row has its tier at the same offset as the header's "tiers".
    const at = lines[0]!.indexOf('tiers');
    for (const line of lines.slice(1)) expect(line.slice(at, at + 'filesystem'.length)).toBe('filesystem');
  });

  it('rejects bad options with exit 2', async () => {
    for (const args of [['--cas', '--ac'], ['--sort', 'color'], ['--limit', 'many']]) {
      const r = await d.run(['ls', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/error: /);
    }
  });
});

describe('ncache ls without a daemon', () => {
  it('says no daemon runs and how to start one (exit 1)', async () => {
    const dir = await shortTempDir();
    try {
      const r = await runNcache(['ls'], { env: cliTestEnv(dir) });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no ncache daemon is running .*ncache start/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
