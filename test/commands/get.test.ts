// `ncache get` through the built CLI against a real daemon: bytes equal to
// what was uploaded over gRPC, to stdout and to a file, size lookup by hash,
// action results decoded, and clear errors.
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionCodec, CommandCodec, DirectoryCodec } from '../../src/proto/reapi.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient } from '../helpers/grpc-client.js';

describe('ncache get', () => {
  let d: CliDaemon;
  let client: ReapiClient;
  // Bigger than one control-socket frame (1 MiB), so several frames and backpressure are involved.
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const small = Buffer.from('contents of out/small\n');
  let bigDigest: Digest;
  let smallDigest: Digest;
  const action = digestOf(Buffer.from('an action for get'));

  beforeAll(async () => {
    d = await startCliDaemon();
    client = new ReapiClient(d.address);
    bigDigest = await client.uploadBlob(big);
    smallDigest = await client.uploadBlob(small);
    await client.updateActionResult({
      actionDigest: action,
      actionResult: { exitCode: 3, outputFiles: [{ path: 'out/small', digest: smallDigest, isExecutable: true }], stdoutDigest: smallDigest },
    });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
  });

  const name = (x: Digest) => `${x.hash}/${x.sizeBytes}`;

  it('writes the blob to stdout byte for byte', async () => {
    const r = await d.run(['get', name(bigDigest)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.equals(big)).toBe(true);
  });

  it('looks the size up when only the hash is given', async () => {
    const r = await d.run(['get', smallDigest.hash]);
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.equals(small)).toBe(true);
  });

  it('-o writes the file whole and leaves no temp file beside it', async () => {
    const target = join(d.dir, 'big.bin');
    const r = await d.run(['get', name(bigDigest), '-o', target]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`wrote ${big.length} bytes`);
    expect((await readFile(target)).equals(big)).toBe(true);
    expect((await readdir(d.dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('an unknown digest exits 1 naming it, and -o creates nothing', async () => {
    const absent = digestOf(Buffer.from('never uploaded'));
    const target = join(d.dir, 'absent.bin');
    const r = await d.run(['get', name(absent), '-o', target]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(name(absent));
    expect(r.stderr).toMatch(/not found/);
    expect((await readdir(d.dir)).filter((f) => f.startsWith('.absent') || f === 'absent.bin')).toEqual([]);

    const byHash = await d.run(['get', absent.hash]);
    expect(byHash.code, byHash.stderr).toBe(1);
    expect(byHash.stderr).toContain(absent.hash);
  });

  it('a malformed digest is a usage error (exit 2) naming it', async () => {
    for (const arg of ['xyz', `${smallDigest.hash}/-1`, smallDigest.hash.slice(1)]) {
      const r = await d.run(['get', arg]);
      expect(r.code, arg).toBe(2);
      expect(r.stderr).toContain(JSON.stringify(arg));
    }
  });

  it('--ac --decode prints the ActionResult as JSON', async () => {
    const r = await d.run(['get', '--ac', '--decode', action.hash]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      outputFiles: [{ path: 'out/small', digest: smallDigest, isExecutable: true }],
      exitCode: 3,
      stdoutDigest: smallDigest,
    });
  });

  it('--ac without --decode streams the stored ActionResult bytes; an unknown action exits 1', async () => {
    const r = await d.run(['get', '--ac', name(action)]);
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.length).toBeGreaterThan(0);
    const missing = digestOf(Buffer.from('no such action'));
    const miss = await d.run(['get', '--ac', name(missing)]);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toContain(name(missing));
  });

  it('--decode guesses Command, Action and Directory (saying so) and obeys --type', async () => {
    const command = CommandCodec.encode({ arguments: ['/bin/echo', 'hi'], environmentVariables: [{ name: 'PATH', value: '/bin' }], outputPaths: ['out/x'] });
    const directory = DirectoryCodec.encode({ files: [{ name: 'a.txt', digest: smallDigest, isExecutable: false }] });
    const commandDigest = await client.uploadBlob(command);
    const dirDigest = await client.uploadBlob(directory);
    const actionBytes = ActionCodec.encode({ commandDigest, inputRootDigest: dirDigest, doNotCache: false });
    const actionDigest = await client.uploadBlob(actionBytes);

    const asCommand = await d.run(['get', '--decode', name(commandDigest)]);
    expect(asCommand.code).toBe(0);
    expect(asCommand.stderr).toMatch(/decoded as Command \(a guess/);
    expect(JSON.parse(asCommand.stdout)).toMatchObject({ arguments: ['/bin/echo', 'hi'], outputPaths: ['out/x'] });

    const asAction = await d.run(['get', '--decode', name(actionDigest)]);
    expect(asAction.stderr).toMatch(/decoded as Action/);
    expect(JSON.parse(asAction.stdout)).toMatchObject({ commandDigest, inputRootDigest: dirDigest });

    const asDir = await d.run(['get', '--decode', name(dirDigest)]);
    expect(asDir.stderr).toMatch(/decoded as Directory/);
    expect(JSON.parse(asDir.stdout)).toEqual({ files: [{ name: 'a.txt', digest: smallDigest, isExecutable: false }] });

    const forced = await d.run(['get', '--decode', '--type', 'directory', name(dirDigest)]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toBe('');

    // Random bytes are no REAPI message: exit 1 with advice.
    const junk = await d.run(['get', '--decode', name(bigDigest)]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toMatch(/not a plausible .*--type/);
  });
});
