// Real Bazel (4.2.3) using ncache's http_cache listener (Bazel's HTTP/1.1
// cache protocol, --remote_cache=http://...) as its remote cache, judged by
// what Bazel reports, on a small workspace of genrules and a tree artifact (an
// output directory: Bazel fetches its Tree message, then the files it lists):
// cold build (uploads) -> daemon restart on the same stores (the listener has
// forgotten every blob size) -> bazel clean -> warm build, every cacheable
// action a hit -> a Builds-without-the-Bytes build ->
// a build without the bearer token the listener asks for (Bazel sends it
// from --remote_header over HTTP too).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/daemon/auth/token-match.js';
import { BazelWorkspace, type BazelRun } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import { DaemonFixture, type DaemonProcess } from '../helpers/daemon-process.js';

const bazel = bazelOrSkip('test/e2e/bazel-http.test.ts', 'Bazel over the HTTP cache protocol');
const STEP_TIMEOUT = 10 * 60_000;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The http:// URL serve printed for the http_cache listener (servers[1]). */
function httpUrl(daemon: DaemonProcess): string {
  const url = daemon.urls.find((u) => u.startsWith('http://'));
  if (url === undefined) throw new Error(`ncache serve printed no http:// listener:\n${daemon.stdout()}`);
  return url;
}

const BIG_BYTES = 3 * 1024 * 1024;

/** Genrules (a chain, a 3 MiB output) and a rule making an output directory, read by a genrule. */
const WORKSPACE_FILES: Record<string, string> = {
  WORKSPACE: '',
  'tree.bzl': `def _tree_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(
        outputs = [out],
        command = "mkdir -p {d}/sub && echo one > {d}/one.txt && echo two > {d}/sub/two.txt && seq 1 20000 > {d}/sub/numbers.txt".format(d = out.path),
    )
    return [DefaultInfo(files = depset([out]))]

tree = rule(implementation = _tree_impl)
`,
  BUILD: `load(":tree.bzl", "tree")

genrule(name = "a", outs = ["a.txt"], cmd = "echo 'step a' > $@")
genrule(name = "b", srcs = [":a"], outs = ["b.txt"], cmd = "(cat $(location :a); echo 'step b') > $@")
genrule(name = "big", outs = ["big.bin"], cmd = "head -c ${BIG_BYTES} <(seq -f 'big line %09g' 1 300000) > $@")
tree(name = "tree")
genrule(name = "from_tree", srcs = [":tree"], outs = ["from_tree.txt"], cmd = "cat $(location :tree)/sub/two.txt > $@")
`,
};

describe.skipIf(!bazel)('Bazel 4.2.3 with ncache as its HTTP remote cache', () => {
  const token = newToken();
  let daemons: DaemonFixture;
  let daemon: DaemonProcess;
  let ws: BazelWorkspace;
  let cold: BazelRun;
  let tokensDir: string | undefined;
  /** Bazel's flags for the cache: the URL and the bearer token the listener asks for. */
  const cacheFlags = () => [`--remote_cache=${httpUrl(daemon)}`, `--remote_header=authorization=Bearer ${token}`];

  beforeAll(async () => {
    tokensDir = await mkdtemp(join(tmpdir(), 'ncache-http-tokens-'));
    const tokensFile = join(tokensDir, 'tokens');
    await writeFile(tokensFile, `${token}\n`, { mode: 0o600 });
    daemons = await DaemonFixture.create({ httpCache: { auth: { tokens_file: tokensFile } } });
    ws = await BazelWorkspace.create({ files: WORKSPACE_FILES, withStubs: false });
    daemon = await daemons.start();
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await ws?.cleanup();
    await daemons?.cleanup();
    if (tokensDir !== undefined) await rm(tokensDir, { recursive: true, force: true });
  }, STEP_TIMEOUT);

  it(
    'cold build over http://: everything runs locally and is uploaded',
    async () => {
      cold = await ws.run('build', [...cacheFlags(), '//...'], { executionLog: true });
      const summary = cold.summary!;
      expect(summary, describeRun(cold)).toBeDefined();
      expect(summary.remoteCacheHits, describeRun(cold)).toBe(0);
      // An upload Bazel could not make is only a warning: there must be none.
      expect(cold.stderr, describeRun(cold)).not.toMatch(/WARNING: .*(remote cache|Remote Cache|upload)/i);
      const spawns = cacheable(cold.spawns!);
      expect(spawns).toHaveLength(5);
      expect(spawns.every((s) => !s.remoteCacheHit && s.exitCode === 0)).toBe(true);
      expect(summary.executed).toBe(spawns.length);
    },
    STEP_TIMEOUT,
  );

  it(
    'after a daemon restart and bazel clean, every cacheable action is a hit and the outputs, the tree files too, are the bytes of the cold build',
    async () => {
      const stopped = await daemon.stop();
      expect(stopped, daemon.stderr()).toEqual({ code: 0, signal: null, forced: false });
      daemon = await daemons.start();

      await ws.run('clean');
      const warm = await ws.run('build', [...cacheFlags(), '//...'], { executionLog: true });
      const summary = warm.summary!;
      expect(summary, describeRun(warm)).toBeDefined();
      const coldCacheable = cacheable(cold.spawns!);
      expect(summary.executed, describeRun(warm)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(warm)).toBe(coldCacheable.length);
      expect(labels(cacheable(warm.spawns!))).toEqual(labels(coldCacheable));

      const bigDigest = coldCacheable.flatMap((s) => s.actualOutputs).find((o) => o.path.endsWith('/big.bin'))!.digest!;
      expect(Number(bigDigest.sizeBytes)).toBe(BIG_BYTES);
      expect(await sha256File(await ws.binPath('big.bin'))).toBe(bigDigest.hash);
      expect(await readFile(await ws.binPath('tree/sub/two.txt'), 'utf8')).toBe('two\n');
      expect((await readFile(await ws.binPath('tree/sub/numbers.txt'), 'utf8')).split('\n')[19999]).toBe('20000');
      expect(await readFile(await ws.binPath('from_tree.txt'), 'utf8')).toBe('two\n');
    },
    STEP_TIMEOUT,
  );

  it(
    'a --remote_download_minimal build after bazel clean is all hits and downloads nothing',
    async () => {
      await ws.run('clean');
      const minimal = await ws.run('build', [...cacheFlags(), '--remote_download_minimal', '//...'], { executionLog: true });
      const summary = minimal.summary!;
      expect(summary, describeRun(minimal)).toBeDefined();
      expect(summary.executed, describeRun(minimal)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(minimal)).toBe(cacheable(cold.spawns!).length);
      expect(existsSync(await ws.binPath('big.bin'))).toBe(false);
    },
    STEP_TIMEOUT,
  );

  it(
    'without the token, Bazel is refused and says why, and the build still succeeds locally',
    async () => {
      await ws.run('clean');
      const refused = await ws.run('build', [`--remote_cache=${httpUrl(daemon)}`, '//:a'], { allowFailure: true });
      expect(refused.exitCode, describeRun(refused)).toBe(0);
      expect(refused.summary?.remoteCacheHits ?? 0, describeRun(refused)).toBe(0);
      expect(refused.stdout + refused.stderr, describeRun(refused)).toMatch(/401|requires a bearer token|Unauthorized/);
    },
    STEP_TIMEOUT,
  );
});
