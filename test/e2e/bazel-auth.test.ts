// Real Bazel (4.2.3) against a daemon whose listener has bearer-token auth,
// judged by what Bazel reports: with `--remote_header=authorization=Bearer
// <token>` a cold build uploads and, after `bazel clean`, a warm build is all
// remote cache hits; a read-only token still gets every hit; without the
// header Bazel stops at its capabilities check and shows ncache's message
// (the listener and the fix), never a token.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/daemon/auth/token-match.js';
import { BazelWorkspace, type BazelRun } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import { DaemonFixture, type DaemonProcess } from '../helpers/daemon-process.js';

const bazel = bazelOrSkip('test/e2e/bazel-auth.test.ts', 'Bazel with bearer-token auth');
const STEP_TIMEOUT = 10 * 60_000;

const WRITE_TOKEN = newToken();
const READ_TOKEN = newToken();
const header = (token: string) => `--remote_header=authorization=Bearer ${token}`;

describe.skipIf(!bazel)('Bazel 4.2.3 with a listener that needs a bearer token', () => {
  let daemons: DaemonFixture;
  let daemon: DaemonProcess;
  let ws: BazelWorkspace;
  let cold: BazelRun;
  let tokensFile: string;

  beforeAll(async () => {
    ws = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
    // The tokens file lives beside the workspace's temp files; the config names it.
    tokensFile = join(ws.baseDir, 'auth-tokens.txt');
    await writeFile(tokensFile, `# e2e\n${WRITE_TOKEN}\n${READ_TOKEN} read\n`, { mode: 0o600 });
    daemons = await DaemonFixture.create({ auth: { tokens_file: tokensFile } });
    daemon = await daemons.start();
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await daemons?.cleanup();
    await ws?.cleanup();
  }, STEP_TIMEOUT);

  it(
    'cold build with the write token: everything runs locally and is uploaded',
    async () => {
      cold = await ws.run('test', [`--remote_cache=${daemon.url}`, header(WRITE_TOKEN), '//...'], { executionLog: true });
      const summary = cold.summary!;
      expect(summary, describeRun(cold)).toBeDefined();
      expect(summary.remoteCacheHits, describeRun(cold)).toBe(0);
      const spawns = cacheable(cold.spawns!);
      expect(spawns.filter((s) => s.mnemonic === 'Genrule')).toHaveLength(6);
      expect(summary.executed).toBe(spawns.length);
      // No upload was refused.
      expect(cold.stderr).not.toMatch(/UNAUTHENTICATED|PERMISSION_DENIED|Writing to Remote Cache/);
    },
    STEP_TIMEOUT,
  );

  it(
    'after bazel clean, the warm build with the write token is all remote cache hits',
    async () => {
      await ws.run('clean');
      const warm = await ws.run('test', [`--remote_cache=${daemon.url}`, header(WRITE_TOKEN), '//...'], { executionLog: true });
      const summary = warm.summary!;
      expect(summary, describeRun(warm)).toBeDefined();
      const coldCacheable = cacheable(cold.spawns!);
      expect(summary.executed, describeRun(warm)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(warm)).toBe(coldCacheable.length);
      expect(labels(cacheable(warm.spawns!))).toEqual(labels(coldCacheable));
      expect(warm.spawns!.filter((s) => !s.remoteCacheHit)).toEqual([]);
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);
    },
    STEP_TIMEOUT,
  );

  it(
    'a read-only token gets the same hits',
    async () => {
      await ws.run('clean');
      const read = await ws.run('test', [`--remote_cache=${daemon.url}`, header(READ_TOKEN), '//...'], { executionLog: true });
      expect(read.summary?.executed, describeRun(read)).toBe(0);
      expect(read.summary?.remoteCacheHits, describeRun(read)).toBe(cacheable(cold.spawns!).length);
    },
    STEP_TIMEOUT,
  );

  it(
    'without the header Bazel stops before building and shows the listener and the fix',
    async () => {
      await ws.run('clean');
      const refused = await ws.run('build', [`--remote_cache=${daemon.url}`, '//...'], { allowFailure: true });
      const output = refused.stdout + refused.stderr;
      // 34: Bazel's exit code for a remote error; it does not fall back to building without the cache.
      expect(refused.exitCode, describeRun(refused)).toBe(34);
      expect(output).toContain(
        `ERROR: Failed to query remote execution capabilities: UNAUTHENTICATED: servers[0] on ${daemon.address} requires a bearer token: ` +
          `add --remote_header=authorization=Bearer <a token from ${tokensFile}> to your .bazelrc`,
      );
      expect(output).not.toContain(WRITE_TOKEN.slice(0, 8));
      // Nothing ran: Bazel refused the remote cache before its first action.
      expect(refused.summary).toBeUndefined();
    },
    STEP_TIMEOUT,
  );
});
