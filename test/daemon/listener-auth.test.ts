// Bearer-token auth on a real daemon (startDaemon on loopback) called by
// grpc-js clients: which calls each kind of caller may make, the status and
// message of a refusal (the listener and the fix, never the token), the
// tokens file checks at start, and revocation by editing the file.
import { status } from '@grpc/grpc-js';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ListenerAuthSpec } from '../../src/config/types.js';
import { newToken } from '../../src/daemon/auth/token-match.js';
import { TOKENS_RECHECK_MS } from '../../src/daemon/auth/token-source.js';
import { digestOf } from '../../src/util/digest.js';
import { type Fixture, type FixtureOptions, startFixture } from './fixture.js';
import { ReapiClient, uploadName } from '../helpers/grpc-client.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups = cleanupsAfterEach();

const WRITE_TOKEN = newToken();
const READ_TOKEN = newToken();

interface AuthWorld {
  f: Fixture;
  tokensFile: string;
  /** A client sending `authorization: <value>` (none when undefined). */
  client(authorization?: string): ReapiClient;
}

async function startWithAuth(auth: Partial<ListenerAuthSpec> = {}, opts: FixtureOptions = {}): Promise<AuthWorld> {
  const dir = await tempDir('ncache-auth-', cleanups);
  const tokensFile = join(dir, 'tokens');
  await writeFile(tokensFile, `# team tokens\n${WRITE_TOKEN}\n${READ_TOKEN} read   # CI readers\n`, { mode: 0o600 });
  const f = await startFixture({
    ...opts,
    edit: (config) => {
      config.servers[0]!.listener.http.auth = { tokens_file: tokensFile, allow_unauthenticated_reads: false, ...auth };
    },
  });
  cleanups.push(() => f.stop());
  return {
    f,
    tokensFile,
    client(authorization) {
      const c = new ReapiClient(f.address, {}, undefined, authorization === undefined ? {} : { authorization });
      cleanups.push(() => c.close());
      return c;
    },
  };
}

/** The listener as refusals name it: servers[0] ("main") on the bound address. */
const listenerOf = (f: Fixture) => new RegExp(`servers\\[0\\] \\("main"\\) on ${f.address.replace(/[.[\]]/g, '\\$&')}`);

const blob = Buffer.from('a build output');
const digest = digestOf(blob);

/** One call of each kind a read-only caller may make, against a blob that is (or is not) there. */
async function reads(c: ReapiClient): Promise<void> {
  await c.getCapabilities();
  await c.findMissingBlobs({ blobDigests: [digest] });
  await c.batchReadBlobs({ digests: [digest] });
}

describe('a listener with auth', () => {
  it('refuses a call without a token with UNAUTHENTICATED naming the listener and the fix', async () => {
    const w = await startWithAuth();
    const err = await w.client().getCapabilities().catch((e: unknown) => e);
    expect(err).toEqual(grpcError(status.UNAUTHENTICATED, listenerOf(w.f)));
    expect(err).toEqual(grpcError(status.UNAUTHENTICATED, /requires a bearer token/));
    expect(err).toEqual(grpcError(status.UNAUTHENTICATED, new RegExp(`--remote_header=authorization=Bearer <a token from ${w.tokensFile}> to your \\.bazelrc`)));
    // Every service, not just the one asked first.
    await expect(w.client().findMissingBlobs({ blobDigests: [digest] })).rejects.toEqual(grpcError(status.UNAUTHENTICATED));
    await expect(w.client().getActionResult({ actionDigest: digest })).rejects.toEqual(grpcError(status.UNAUTHENTICATED));
    await expect(w.client().read(`blobs/${digest.hash}/${digest.sizeBytes}`)).rejects.toEqual(grpcError(status.UNAUTHENTICATED));
    await expect(w.client().uploadBlob(blob)).rejects.toEqual(grpcError(status.UNAUTHENTICATED));
  });

  it('refuses a wrong or malformed token with UNAUTHENTICATED and never echoes it', async () => {
    const w = await startWithAuth();
    const wrong = newToken();
    const err = await w.client(`Bearer ${wrong}`).getCapabilities().catch((e: unknown) => e);
    expect(err).toEqual(grpcError(status.UNAUTHENTICATED, /does not accept this bearer token/));
    expect(err).toEqual(grpcError(status.UNAUTHENTICATED, listenerOf(w.f)));
    const details = (err as { details: string }).details;
    expect(details).not.toContain(wrong.slice(0, 8));
    expect(details).not.toContain(wrong.slice(-8));

    // A near miss (a real token with a character changed) is just as wrong.
    const nearMiss = WRITE_TOKEN.slice(0, -1) + (WRITE_TOKEN.endsWith('A') ? 'B' : 'A');
    await expect(w.client(`Bearer ${nearMiss}`).getCapabilities()).rejects.toEqual(grpcError(status.UNAUTHENTICATED));
    // Another scheme, or the token without "Bearer".
    await expect(w.client(`Basic ${WRITE_TOKEN}`).getCapabilities()).rejects.toEqual(
      grpcError(status.UNAUTHENTICATED, /the authorization header is not "Bearer <token>"/),
    );
    const bare = await w.client(WRITE_TOKEN).getCapabilities().catch((e: unknown) => e);
    expect(bare).toEqual(grpcError(status.UNAUTHENTICATED));
    expect((bare as { details: string }).details).not.toContain(WRITE_TOKEN.slice(0, 8));
  });

  it('lets a write token read and write on every service', async () => {
    const w = await startWithAuth();
    const c = w.client(`Bearer ${WRITE_TOKEN}`);
    await c.uploadBlob(blob);
    const other = Buffer.from('another output');
    await c.batchUpdateBlobs({ requests: [{ digest: digestOf(other), data: other }] });
    await c.updateActionResult({ actionDigest: digest, actionResult: { outputFiles: [{ path: 'out', digest }] } });
    await reads(c);
    expect((await c.getActionResult({ actionDigest: digest })).outputFiles[0]!.path).toBe('out');
    expect(await c.downloadBlob(digest)).toEqual(blob);
    // The scheme is case-insensitive (RFC 7235).
    await w.client(`bearer ${WRITE_TOKEN}`).getCapabilities();
  });

  it('lets a read token read, and refuses its writes with PERMISSION_DENIED; nothing is stored', async () => {
    const w = await startWithAuth({}, { execution: true });
    const writer = w.client(`Bearer ${WRITE_TOKEN}`);
    const reader = w.client(`Bearer ${READ_TOKEN}`);
    await writer.uploadBlob(blob);
    await writer.updateActionResult({ actionDigest: digest, actionResult: { outputFiles: [{ path: 'out', digest }] } });
    await reads(reader);
    expect(await reader.downloadBlob(digest)).toEqual(blob);
    expect((await reader.getActionResult({ actionDigest: digest })).outputFiles[0]!.path).toBe('out');

    const fresh = Buffer.from('never stored');
    const freshDigest = digestOf(fresh);
    const readOnly = /this bearer token is read-only \("read" in .*\) and (\S+) writes: put a write token in --remote_header, or build with --remote_upload_local_results=false/;
    const refusals = [
      reader.batchUpdateBlobs({ requests: [{ digest: freshDigest, data: fresh }] }),
      reader.write(uploadName('', freshDigest), fresh),
      reader.updateActionResult({ actionDigest: freshDigest, actionResult: { exitCode: 0 } }),
      reader.execute({ actionDigest: freshDigest }),
    ];
    const errors = await Promise.all(refusals.map((p) => p.then(() => undefined, (e: unknown) => e)));
    expect(errors).toEqual(errors.map(() => grpcError(status.PERMISSION_DENIED, readOnly)));
    expect(errors.map((e) => readOnly.exec((e as { details: string }).details)?.[1])).toEqual([
      'ContentAddressableStorage.BatchUpdateBlobs',
      'ByteStream.Write',
      'ActionCache.UpdateActionResult',
      'Execution.Execute',
    ]);
    expect(errors.every((e) => !(e as { details: string }).details.includes(READ_TOKEN.slice(0, 8)))).toBe(true);
    // Refused before any handler ran: neither the blob nor an action result exists.
    expect((await writer.findMissingBlobs({ blobDigests: [freshDigest] })).missingBlobDigests).toEqual([freshDigest]);
    await expect(writer.getActionResult({ actionDigest: freshDigest })).rejects.toEqual(grpcError(status.NOT_FOUND));
  });

  it('keeps Health open for load-balancer probes', async () => {
    const w = await startWithAuth();
    expect((await w.client().healthCheck()).status).toBe(1); // SERVING
  });

  it('with allow_unauthenticated_reads: reads without a token, writes refused with the fix; a wrong token is still refused', async () => {
    const w = await startWithAuth({ allow_unauthenticated_reads: true });
    await w.client(`Bearer ${WRITE_TOKEN}`).uploadBlob(blob);
    const anonymous = w.client();
    await reads(anonymous);
    expect(await anonymous.downloadBlob(digest)).toEqual(blob);
    const err = await anonymous.updateActionResult({ actionDigest: digest, actionResult: { exitCode: 0 } }).catch((e: unknown) => e);
    expect(err).toEqual(grpcError(status.PERMISSION_DENIED, listenerOf(w.f)));
    expect(err).toEqual(
      grpcError(
        status.PERMISSION_DENIED,
        /lets calls without a token only read, and ActionCache\.UpdateActionResult writes: add --remote_header=authorization=Bearer <a write token from .*> to your \.bazelrc/,
      ),
    );
    await expect(anonymous.uploadBlob(Buffer.from('anonymous upload'))).rejects.toEqual(grpcError(status.PERMISSION_DENIED));
    // A token that is sent is checked: a wrong one is an error, not a silent downgrade to anonymous.
    await expect(w.client(`Bearer ${newToken()}`).getCapabilities()).rejects.toEqual(grpcError(status.UNAUTHENTICATED));
  });

  it('stops accepting a token removed from the file without a restart, and accepts one added', async () => {
    const w = await startWithAuth();
    const writer = w.client(`Bearer ${WRITE_TOKEN}`);
    await writer.getCapabilities();
    const added = newToken();
    // Rewritten in place, as an editor or `sed -i` would (the mode stays 0600).
    await writeFile(w.tokensFile, `${added}\n`);
    const refused = await waitFor(
      () => writer.getCapabilities().then(() => undefined, (e: unknown) => e),
      { what: `the revoked token to be refused (the daemon rechecks every ${TOKENS_RECHECK_MS} ms)`, timeoutMs: 20 * TOKENS_RECHECK_MS },
    );
    expect(refused).toEqual(grpcError(status.UNAUTHENTICATED, /does not accept this bearer token \(mistyped, or no longer in/));
    await w.client(`Bearer ${added}`).uploadBlob(blob);
  });

  it('refuses every tokened call while the file is unusable (here: group-readable), and recovers once fixed', async () => {
    const w = await startWithAuth();
    const writer = w.client(`Bearer ${WRITE_TOKEN}`);
    await chmod(w.tokensFile, 0o640);
    const refused = await waitFor(
      () => writer.getCapabilities().then(() => undefined, (e: unknown) => e),
      { what: 'calls to be refused while the tokens file is group-readable', timeoutMs: 20 * TOKENS_RECHECK_MS },
    );
    expect(refused).toEqual(grpcError(status.UNAVAILABLE, /cannot check bearer tokens: its tokens file .* is unusable/));
    await chmod(w.tokensFile, 0o600);
    await waitFor(() => writer.getCapabilities().then(() => true, () => false), {
      what: 'calls to be accepted once the tokens file is 0600 again',
      timeoutMs: 20 * TOKENS_RECHECK_MS,
    });
  });
});

describe('the daemon does not start with an unusable tokens file', () => {
  const start = async (write?: { text: string; mode: number }) => {
    const dir = await tempDir('ncache-auth-', cleanups);
    const tokensFile = join(dir, 'tokens');
    if (write) {
      await writeFile(tokensFile, write.text);
      await chmod(tokensFile, write.mode);
    }
    const started = startFixture({
      edit: (config) => {
        config.servers[0]!.listener.http.auth = { tokens_file: tokensFile, allow_unauthenticated_reads: false };
      },
    });
    started.then((f) => cleanups.push(() => f.stop()), () => undefined);
    return { tokensFile, error: await started.then(() => undefined, (e: unknown) => e) };
  };

  it('missing', async () => {
    const { tokensFile, error } = await start();
    expect(String(error)).toContain(`servers[0].listener.http.auth.tokens_file: ${tokensFile} does not exist`);
  });

  it('readable by group or others, with the chmod that fixes it', async () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      const { tokensFile, error } = await start({ text: `${WRITE_TOKEN}\n`, mode });
      expect(String(error)).toContain(`mode 0${mode.toString(8)}`);
      expect(String(error)).toContain(`must be 0600 or stricter: chmod 600 ${tokensFile}`);
      expect(String(error)).not.toContain(WRITE_TOKEN.slice(0, 8));
    }
  });

  it('empty, or only comments', async () => {
    const { error } = await start({ text: '# no tokens yet\n\n', mode: 0o600 });
    expect(String(error)).toMatch(/holds no tokens/);
  });
});
