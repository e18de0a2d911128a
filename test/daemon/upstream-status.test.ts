// The upstream probe behind `ncache status` (src/daemon/control/
// upstream-status.ts) against real endpoints: a daemon with bearer-token auth
// (reachable with the token file, UNAUTHENTICATED without it, the two asked
// once each even when several stores share them), a closed port
// (UNAVAILABLE naming it) and a TCP server that accepts and never answers
// (DEADLINE_EXCEEDED: the probe's own deadline bounds it, no retry).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETRY_DEFAULTS } from '../../src/config/schema-retry.js';
import type { UpstreamConnectionSpec } from '../../src/config/types.js';
import { type UpstreamUse, capabilitiesSummary, probeUpstreams } from '../../src/daemon/control/upstream-status.js';
import { DaemonFixture, type DaemonProcess } from '../helpers/daemon-process.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { closedPort } from '../helpers/ports.js';

const TOKEN = 'probe-token-0123456789abcdef';

function use(usedBy: string, address: string, extra: Partial<UpstreamConnectionSpec> = {}): UpstreamUse {
  return {
    usedBy,
    configPath: `test.${usedBy}`,
    instanceName: '',
    connection: {
      endpoints: [{ address, concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0 }],
      // A retry policy the probe must not follow: it asks once.
      retry: { ...RETRY_DEFAULTS, max_retries: 5, delay: 1 },
      max_concurrent_requests: 0,
      connections_per_endpoint: 3,
      rpc_timeout_s: 0,
      headers: {},
      ...extra,
    },
  };
}

describe('the upstream probe of ncache status', () => {
  let fixture: DaemonFixture;
  let daemon: DaemonProcess;
  let tokenFile: string;
  let silent: Server;
  let dir = '';
  const held: Socket[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-probe-'));
    const tokensFile = join(dir, 'tokens.txt');
    await writeFile(tokensFile, `${TOKEN}\n`, { mode: 0o600 });
    tokenFile = join(dir, 'client.token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    fixture = await DaemonFixture.create({ auth: { tokens_file: tokensFile } });
    daemon = await fixture.start();
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  }, 60_000);

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => silent?.close(() => resolve()));
    await fixture?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('asks a daemon with the token once for its users, and reports what it says; without the token, why it refused', async () => {
    const address = `grpc://${daemon.address}`;
    const client = new ReapiClient(daemon.address, {}, undefined, { authorization: `Bearer ${TOKEN}` });
    const reported = await client.getCapabilities('').finally(() => client.close());

    const rows = await probeUpstreams([
      use('store CAS (cas)', address, { token_file: tokenFile }),
      use('store AC (ac)', address, { token_file: tokenFile }),
      use('store OTHER (cas)', address),
    ]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({
      address,
      instanceName: '',
      usedBy: ['store CAS (cas)', 'store AC (ac)'],
      reachable: true,
      error: null,
      latencyMs: expect.any(Number),
      capabilities: capabilitiesSummary(reported),
    });
    // This daemon caches only.
    expect(rows[0]!.capabilities).toMatchObject({ execEnabled: false, digestFunctions: ['SHA256'] });
    expect(rows[1]).toMatchObject({ usedBy: ['store OTHER (cas)'], reachable: false, capabilities: null, latencyMs: null });
    expect(rows[1]!.error).toContain('UNAUTHENTICATED');
    expect(rows[1]!.error).toContain(address);
  }, 30_000);

  it('names a closed port UNAVAILABLE, and ends a silent endpoint at its own deadline, both asked at once', async () => {
    const closed = `grpc://127.0.0.1:${await closedPort()}`;
    const { port } = silent.address() as { port: number };
    const quiet = `grpc://127.0.0.1:${port}`;
    const rows = await probeUpstreams([use('scheduler A', closed), use('scheduler B', quiet)]);
    expect(rows.map((r) => [r.address, r.reachable])).toEqual([
      [closed, false],
      [quiet, false],
    ]);
    expect(rows[0]!.error).toContain('UNAVAILABLE');
    expect(rows[0]!.error).toContain(closed);
    expect(rows[1]!.error).toContain('DEADLINE_EXCEEDED');
    expect(rows[1]!.error).toContain(quiet);
  }, 30_000);
});
