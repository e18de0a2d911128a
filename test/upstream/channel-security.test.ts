// The upstream channel's TLS and bearer token against a real daemon whose
// listener requires them: a CA from tls_config (and a wrong one refused), a
// token from token_file (and its rotation picked up without a restart), and
// the errors for a missing token file or a refused token.
import { mkdirSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newToken } from '../../src/daemon/auth/token-match.js';
import { CasClient } from '../../src/upstream/cas-client.js';
import { errorCode } from '../../src/util/errors.js';
import { startFixture } from '../daemon/fixture.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { issueCert, makeCa } from '../helpers/tls-certs.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectionSpec, endpoint, openChannel } from './channel-helpers.js';

const cleanups = cleanupsAfterEach();

const portOf = (address: string) => address.slice(address.lastIndexOf(':') + 1);

describe('UpstreamChannel over TLS', () => {
  it('trusts the CA in tls_config.ca_file and refuses a server its CA did not sign, naming the address', async () => {
    const dir = await tempDir('ncache-upstream-tls-', cleanups);
    mkdirSync(join(dir, 'good'));
    mkdirSync(join(dir, 'other'));
    const ca = makeCa(join(dir, 'good'), 'good-ca');
    const server = issueCert(ca, 'server', 'server');
    const otherCa = makeCa(join(dir, 'other'), 'other-ca');
    const f = await startFixture({
      edit: (c) => {
        c.servers[0]!.listener.http.tls = { cert_file: server.cert, key_file: server.key };
      },
    });
    cleanups.push(() => f.stop());
    const address = `grpcs://localhost:${portOf(f.address)}`;

    const trusted = openChannel(connectionSpec([endpoint(address, { tls_config: { ca_file: ca.cert, use_native_roots: false } })]), cleanups);
    expect((await new CasClient(trusted, '').getCapabilities()).cacheCapabilities).not.toBeNull();

    const wrongCa = openChannel(connectionSpec([endpoint(address, { tls_config: { ca_file: otherCa.cert, use_native_roots: false } })]), cleanups);
    const err = await new CasClient(wrongCa, '').getCapabilities().catch((e: unknown) => e);
    expect(errorCode(err)).toBe('UNAVAILABLE');
    expect(String(err)).toContain(`upstream ${address} (instance "") Capabilities.GetCapabilities: UNAVAILABLE`);

    // grpcs:// without tls_config uses the default roots, which do not hold a test CA.
    const defaultRoots = openChannel(connectionSpec([endpoint(address)]), cleanups);
    await expect(new CasClient(defaultRoots, '').getCapabilities()).rejects.toThrow(/UNAVAILABLE/);
  });

  it('a CA file gone since the config was checked is named with its field when the channel is built', () => {
    const spec = connectionSpec([endpoint('grpcs://localhost:1', { tls_config: { ca_file: '/nonexistent/ca.pem', use_native_roots: false } })]);
    expect(() => openChannel(spec, cleanups)).toThrow(/^stores\[0\]\.grpc\.endpoints\[0\]\.tls_config: .*ENOENT.*\/nonexistent\/ca\.pem/);
  });
});

describe('UpstreamChannel with a bearer token', () => {
  async function authWorld() {
    const dir = await tempDir('ncache-upstream-auth-', cleanups);
    const tokensFile = join(dir, 'listener-tokens');
    const token = newToken();
    await writeFile(tokensFile, `${token}\n`, { mode: 0o600 });
    const f = await startFixture({
      edit: (c) => {
        c.servers[0]!.listener.http.auth = { tokens_file: tokensFile, allow_unauthenticated_reads: false };
      },
    });
    cleanups.push(() => f.stop());
    const tokenFile = join(dir, 'upstream-token');
    await writeFile(tokenFile, `  ${token}\n`);
    return { dir, tokensFile, tokenFile, token, address: `grpc://${f.address}` };
  }

  it('sends token_file as authorization: Bearer, and without it the upstream refuses, named', async () => {
    const w = await authWorld();
    const withToken = openChannel(connectionSpec([endpoint(w.address)], { token_file: w.tokenFile }), cleanups);
    expect(await new CasClient(withToken, '').findMissingBlobs([{ hash: 'ab'.repeat(32), sizeBytes: 1 }])).toHaveLength(1);
    await new CasClient(withToken, '').batchUpdateBlobs([{ digest: { hash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', sizeBytes: 0 }, data: Buffer.alloc(0) }]);

    const without = openChannel(connectionSpec([endpoint(w.address)]), cleanups);
    const err = await new CasClient(without, '').getCapabilities().catch((e: unknown) => e);
    expect(errorCode(err)).toBe('PERMISSION_DENIED');
    expect(String(err)).toContain(`upstream ${w.address} (instance "") Capabilities.GetCapabilities: UNAUTHENTICATED`);
  });

  it('a rotated token file is used without a restart', async () => {
    const w = await authWorld();
    const channel = openChannel(connectionSpec([endpoint(w.address)], { token_file: w.tokenFile }), cleanups);
    const cas = new CasClient(channel, '');
    await cas.getCapabilities();
    // The cluster rotates: only the new token is accepted from now on.
    const rotated = newToken();
    await writeFile(join(w.dir, 'next-tokens'), `${rotated}\n`, { mode: 0o600 });
    await rename(join(w.dir, 'next-tokens'), w.tokensFile);
    await waitFor(() => cas.getCapabilities().then(() => false, (e: unknown) => errorCode(e) === 'PERMISSION_DENIED'), {
      what: 'the upstream to refuse the old token',
    });
    // The laptop's token file is replaced (atomically): calls work again, no new channel.
    await writeFile(join(w.dir, 'next-token'), rotated);
    await rename(join(w.dir, 'next-token'), w.tokenFile);
    await waitFor(() => cas.getCapabilities().then(() => true, () => false), { what: 'the rotated token to be sent' });
  });

  it('a token file that disappears or empties fails calls naming the config path and the file', async () => {
    const w = await authWorld();
    let now = 0;
    const channel = openChannel(connectionSpec([endpoint(w.address)], { token_file: w.tokenFile }), cleanups, { now: () => now });
    const cas = new CasClient(channel, '');
    await cas.getCapabilities();
    await writeFile(w.tokenFile, '\n');
    now += 1000;
    const empty = await cas.getCapabilities().catch((e: unknown) => e);
    expect(errorCode(empty)).toBe('FAILED_PRECONDITION');
    expect(String(empty)).toContain(`stores[0].grpc.token_file: the token file ${w.tokenFile} is empty`);
    await rm(w.tokenFile);
    now += 1000;
    await expect(cas.getCapabilities()).rejects.toThrow(`stores[0].grpc.token_file: cannot read the token file ${w.tokenFile}`);
    expect(channel.counters().requests).toBe(1);
  });
});
