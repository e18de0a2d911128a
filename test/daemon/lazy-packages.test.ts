// Packages a daemon loads only when its config uses them: prom-client (and
// the OpenTelemetry API it brings) for a listener that serves Prometheus
// metrics, @grpc/grpc-js for an upstream (a grpc store or scheduler). In every
// other daemon they were idle memory and start time for nothing
// (docs/benchmarks.md, issue 12's fifth session).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaemonFixture, type TestConfigOptions } from '../helpers/daemon-process.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

/** The packages under node_modules a real daemon (`ncache serve`) had loaded when it exited. */
async function packagesLoadedBy(config: Omit<TestConfigOptions, 'dataDir'>): Promise<Set<string>> {
  const dir = await tempDir('ncache-lazy-', cleanups);
  const out = join(dir, 'loaded.json');
  const probe = join(dir, 'probe.mjs');
  await writeFile(
    probe,
    `import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
process.on('exit', () => writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache))));
`,
  );
  const fixture = await DaemonFixture.create(config);
  cleanups.push(() => fixture.cleanup());
  const daemon = await fixture.start({ nodeArgs: ['--import', probe] });
  await daemon.stop();
  const files = JSON.parse(await readFile(out, 'utf8')) as string[];
  return new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []));
}

describe('modules a daemon loads', () => {
  it('leaves prom-client and @grpc/grpc-js unloaded in a daemon with no metrics listener and no upstream', async () => {
    const plain = await packagesLoadedBy({});
    expect(plain.has('better-sqlite3'), 'the probe sees the packages the daemon loaded').toBe(true);
    expect(plain.has('prom-client')).toBe(false);
    expect(plain.has('@opentelemetry/api')).toBe(false);
    expect(plain.has('@grpc/grpc-js')).toBe(false);

    const withMetrics = await packagesLoadedBy({ prometheus: { path: '/metrics' } });
    expect(withMetrics.has('prom-client')).toBe(true);
  });
});
