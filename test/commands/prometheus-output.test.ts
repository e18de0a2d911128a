// What `serve`, `status` and `start` tell a user about a listener that serves
// Prometheus metrics: the scrape URL beside the .bazelrc lines, and that URL
// answers. The BUILT bin/ncache.js as a real process.
// Build first (npm test does): npx tsc -p tsconfig.json
import JSON5 from 'json5';
import { describe, expect, it } from 'vitest';
import type { StartResult } from '../../src/commands/start/run.js';
import type { StatusResult } from '../../src/commands/status/run.js';
import { startCliDaemon } from '../helpers/cli-daemon.js';
import { testConfigText } from '../helpers/daemon-process.js';
import { scrape } from '../helpers/prometheus.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

describe('a daemon with experimental_prometheus', () => {
  it('prints the scrape URL in serve, status --json and start, and it answers', async () => {
    const config = JSON5.parse<{ servers: { services: Record<string, unknown> }[] }>(testConfigText({ dataDir: '${NCACHE_TEST_DIR}/data' }));
    config.servers[0]!.services.experimental_prometheus = { path: '/prom' };
    const cli = await startCliDaemon({ configText: JSON.stringify(config) });
    cleanups.push(() => cli.stop());

    const url = `http://${cli.address}/prom`;
    expect(cli.daemon.stdout()).toContain(`metrics: ${url}\n`);
    const status = await cli.run(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout) as StatusResult).toMatchObject({ metricsUrls: [url] });
    const start = await cli.run(['start', '--config', cli.configPath]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toContain(`metrics: ${url}\n`);
    const start2 = await cli.run(['start', '--config', cli.configPath, '--json']);
    expect(JSON.parse(start2.stdout) as StartResult).toMatchObject({ status: 'already-running', metricsUrls: [url] });
    expect((await scrape(url)).family('ncache_requests_total').type).toBe('COUNTER');
  });
});
