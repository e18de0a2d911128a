// `ncache stats` through the built CLI against a real daemon: the counts of
// the gRPC calls this test makes, the plain and JSON --watch streams, and the
// ink view drawn in a real pseudo-terminal (tmux), quit with 'q'.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { repoRoot } from '../helpers/daemon-process.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { waitFor } from '../helpers/wait-for.js';

const execFileAsync = promisify(execFile);
const bin = join(repoRoot(), 'bin', 'ncache.js');

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

describe('ncache stats', () => {
  let d: CliDaemon;
  let client: ReapiClient;
  let blob: Digest;
  const action = digestOf(Buffer.from('an action for stats'));

  beforeAll(async () => {
    d = await startCliDaemon();
    client = new ReapiClient(d.address);
    blob = await client.uploadBlob(Buffer.from('a blob for stats'));
    await client.updateActionResult({ actionDigest: action, actionResult: { exitCode: 0, outputFiles: [{ path: 'o', digest: blob }] } });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
  });

  const statsJson = async () => {
    const r = await d.run(['stats', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as StatsResult;
  };

  it('--json counts exactly the requests, hits and misses we cause', async () => {
    const before = await statsJson();
    const absent = digestOf(Buffer.from('not stored anywhere'));
    await client.findMissingBlobs({ blobDigests: [blob, absent, digestOf(Buffer.from('also absent'))] });
    await client.getActionResult({ actionDigest: action });
    await expect(client.getActionResult({ actionDigest: absent })).rejects.toMatchObject({ code: 5 });
    await client.downloadBlob(blob);
    await expect(client.downloadBlob(absent)).rejects.toMatchObject({ code: 5 });
    await client.batchReadBlobs({ digests: [blob, absent] });
    const after = await statsJson();

    const method = (s: StatsResult, service: string, name: string) => s.requests!.services[service]!.methods[name];
    const delta = (service: string, name: string, field: 'requests' | 'hits' | 'misses' | 'errorCount') =>
      ((method(after, service, name)?.[field] as number | undefined) ?? 0) -
      ((method(before, service, name)?.[field] as number | undefined) ?? 0);

    expect(delta('cas', 'FindMissingBlobs', 'requests')).toBe(1);
    expect(delta('cas', 'FindMissingBlobs', 'hits')).toBe(1);
    expect(delta('cas', 'FindMissingBlobs', 'misses')).toBe(2);
    expect(delta('cas', 'BatchReadBlobs', 'hits')).toBe(1);
    expect(delta('cas', 'BatchReadBlobs', 'misses')).toBe(1);
    expect(delta('ac', 'GetActionResult', 'requests')).toBe(2);
    expect(delta('ac', 'GetActionResult', 'hits')).toBe(1);
    expect(delta('ac', 'GetActionResult', 'misses')).toBe(1);
    expect(delta('ac', 'GetActionResult', 'errorCount')).toBe(1);
    expect(delta('bytestream', 'Read', 'hits')).toBe(1);
    expect(delta('bytestream', 'Read', 'misses')).toBe(1);
    expect(after.requests!.requests - before.requests!.requests).toBe(1 + 2 + 2 + 1);
    // Nothing else ran: the daemon's stats calls go over the control socket, not gRPC.
    expect(after.requests!.services.ac).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5 });
    expect(method(after, 'bytestream', 'Write')).toMatchObject({ requests: 1, errorCount: 0 });
    expect(after.requests!.latencyMs.count).toBe(after.requests!.requests);
    expect(after.requests!.latencyMs.p50).not.toBeNull();

    // Tiers: the filesystem CAS holds the one blob.
    const cas = after.stores.find((s) => s.name === 'CAS')!;
    expect(cas.tiers.map((t) => t.kind)).toEqual(['verify', 'filesystem']);
    expect(cas.tiers[1]).toMatchObject({ path: 'CAS.verify.backend', blobs: 1, maxBytes: 20_000_000_000 });
    expect(after.daemon.uptimeMs).toBeGreaterThanOrEqual(before.daemon.uptimeMs);
    expect(after.uploadBacklog).toEqual({ blobs: 0, bytes: 0, oldestAgeMs: null, stores: [] });
  });

  it('prints plain text tables when piped', async () => {
    const r = await d.run(['stats']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ncache \S+ {2}pid \d+ {2}up /);
    expect(r.stdout).toMatch(/\nRequests\n {2}service +requests/);
    expect(r.stdout).toMatch(/\n {2}ac +\d+ .* 50\.0% +1\/1 /);
    expect(r.stdout).toMatch(/\nStores\n/);
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('--watch piped prints one block (or with --json one line) per interval, and Ctrl-C ends it with 0', async () => {
    for (const json of [false, true]) {
      const child = spawn(process.execPath, [bin, 'stats', '--watch', '--interval', '0.2', ...(json ? ['--json'] : [])], {
        env: { ...process.env, ...d.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const count = () => (json ? out.split('\n').filter((l) => l.startsWith('{')).length : (out.match(/^ncache /gm) ?? []).length);
      await waitFor(() => count() >= 3, { what: 'three refreshes' });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      if (json) {
        const docs = out.trim().split('\n').map((l) => JSON.parse(l) as StatsResult);
        expect(docs.length).toBeGreaterThanOrEqual(3);
        for (const doc of docs) expect(doc.requests!.services.ac!.hits).toBe(1);
      } else {
        // From the second block on, there is a rate per second.
        expect(out).toMatch(/req\/s/);
      }
    }
  });

  it('--watch on a terminal draws the ink view in place and quits on q (tmux)', async () => {
    const sock = `nc-stats-${process.pid}`;
    const tmux = (...args: string[]) => execFileAsync('tmux', ['-L', sock, ...args]);
    try {
      for (const noColor of [false, true]) {
        const exitFile = join(d.dir, `view-exit-${noColor}`);
        // No CI variable at all: ink counts even an empty one as CI and then draws no live frames.
        const env = { ...d.env, ...(noColor ? { NO_COLOR: '1' } : {}), TERM: 'xterm-256color' };
        const vars = Object.entries(env)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${shellQuote(v!)}`)
          .join(' ');
        const cmd = `env -u CI ${vars} ${shellQuote(process.execPath)} ${shellQuote(bin)} stats --watch --interval 0.3 2>${shellQuote(exitFile + '.err')}; echo "exit=$?" > ${shellQuote(exitFile)}`;
        await tmux('new-session', '-d', '-s', 'stats', '-x', '120', '-y', '40', cmd);
        let last = '';
        const frame = await waitFor(async () => {
          const { stdout } = await tmux('capture-pane', '-p', '-e', '-t', 'stats').catch(async (err: Error) => ({
            stdout: `(${err.message}) ${await readFile(exitFile + '.err', 'utf8').catch(() => '')}`,
          }));
          last = stdout;
          // At least two refreshes: the second one has a rate in the req/s column.
          const text = stdout.replace(/\x1b\[[0-9;]*m/g, '');
          return text.includes('refreshing every') && / ac +\d+ +\d+\.\d /.test(text) ? stdout : undefined;
        }, { what: () => `the ink view to draw a frame; the pane showed:\n${last}` });
        const plain = frame.replace(/\x1b\[[0-9;]*m/g, '');
        expect(plain).toMatch(/ncache \S+ {2}pid \d+/);
        expect(plain).toMatch(/Requests/);
        expect(plain).toMatch(/ ac +\d+ +\d+\.\d +\d+ /);
        // The one blob and the one action result beforeAll stored.
        expect(plain).toMatch(/CAS +verify\n +backend +filesystem +1 /);
        expect(plain).toMatch(/AC +completeness_checking\n +backend +filesystem +1 /);
        expect(plain).toContain('q to quit');
        if (noColor) expect(frame).not.toMatch(/\x1b\[[0-9;]*m/);
        else expect(frame).toMatch(/\x1b\[[0-9;]*1m|\x1b\[1;|\x1b\[3[0-9]m/);
        // Refreshes in place: the header is drawn once, not once per refresh.
        expect(plain.match(/Requests/g)).toHaveLength(1);
        await tmux('send-keys', '-t', 'stats', 'q');
        const exit = await waitFor(async () => (existsSync(exitFile) ? readFile(exitFile, 'utf8') : undefined), { what: 'the view to quit' });
        expect(exit.trim()).toBe('exit=0');
        // Nothing on stderr but ink's cursor show/hide.
        expect((await readFile(exitFile + '.err', 'utf8')).replace(/\x1b\[\?25[hl]/g, '')).toBe('');
      }
    } finally {
      await tmux('kill-server').catch(() => {});
    }
  });
});
