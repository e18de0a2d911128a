// What `serve`, `status` and `start` tell a user about a TLS listener: the
// grpcs:// address and the Bazel flags it needs. The BUILT bin/ncache.js with
// a config whose certificates openssl made for this test.
// Build first (npm test does): npx tsc -p tsconfig.json
import JSON5 from 'json5';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StartResult } from '../../src/commands/start/run.js';
import type { StatusResult } from '../../src/commands/status/run.js';
import { startCliDaemon } from '../helpers/cli-daemon.js';
import { testConfigText } from '../helpers/daemon-process.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { issueCert, makeCa } from '../helpers/tls-certs.js';

const cleanups = cleanupsAfterEach();

describe('a daemon with an mTLS listener', () => {
  it('prints grpcs:// and the TLS flags in serve, status and start', async () => {
    const pki = await tempDir('ncache-tls-cli-', cleanups);
    mkdirSync(join(pki, 'server'));
    mkdirSync(join(pki, 'clients'));
    const serverCa = makeCa(join(pki, 'server'), 'server-ca');
    const server = issueCert(serverCa, 'server', 'server');
    const clientCa = makeCa(join(pki, 'clients'), 'client-ca');
    const config = JSON5.parse<{ servers: { listener: { http: Record<string, unknown> } }[] }>(testConfigText({ dataDir: '${NCACHE_TEST_DIR}/data' }));
    config.servers[0]!.listener.http.tls = { cert_file: server.cert, key_file: server.key, client_ca_file: clientCa.cert };
    const cli = await startCliDaemon({ configText: JSON.stringify(config) });
    cleanups.push(() => cli.stop());

    const url = `grpcs://${cli.address}`;
    expect(cli.daemon.url).toBe(url);
    const bazelrc = [
      `build --remote_cache=${url}`,
      `# unless a CA the JVM trusts signed ${server.cert}, give Bazel the CA that did:`,
      '# build --tls_certificate=<CA certificate, PEM>',
      `# mTLS: this client's certificate, signed by a CA in ${clientCa.cert}, and its key (PKCS#8 PEM):`,
      '# build --tls_client_certificate=<client certificate, PEM>',
      '# build --tls_client_key=<client private key, PEM>',
    ];
    expect(cli.daemon.stdout()).toContain(['Add to .bazelrc:', ...bazelrc.map((l) => `  ${l}`)].join('\n'));

    const status = await cli.run(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout) as StatusResult).toMatchObject({ addresses: [url], bazelrcLines: bazelrc });
    expect((await cli.run(['status'])).stdout).toContain(`  listening   ${url}\n`);

    const start = await cli.run(['start', '--config', cli.configPath, '--json']);
    expect(start.code, start.stderr).toBe(0);
    expect(JSON.parse(start.stdout) as StartResult).toMatchObject({ status: 'already-running', addresses: [url], bazelrcLines: bazelrc });
  });
});
