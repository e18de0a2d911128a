// The Bazel end-to-end test and the benchmark judge ncache by Bazel's own
// output; these check that reading that output is right, on text captured
// from Bazel 4.2.3, without needing Bazel installed.
import { describe, expect, it } from 'vitest';
import { parseExecutionLog, parseProcessSummary } from '../helpers/bazel.js';

describe('parseProcessSummary', () => {
  it('reads hits, internal and executed counts from a warm build', () => {
    const stderr = [
      'INFO: Analyzed 8 targets (0 packages loaded, 0 targets configured).',
      'INFO: Found 7 targets and 1 test target...',
      'INFO: Elapsed time: 1.090s, Critical Path: 0.42s',
      'INFO: 11 processes: 8 remote cache hit, 3 internal.',
      'INFO: Build completed successfully, 11 total actions',
    ].join('\n');
    expect(parseProcessSummary(stderr)).toEqual({
      total: 11,
      byKind: { 'remote cache hit': 8, internal: 3 },
      remoteCacheHits: 8,
      internal: 3,
      executed: 0,
      remoteExecuted: 0,
      localExecuted: 0,
      line: 'INFO: 11 processes: 8 remote cache hit, 3 internal.',
    });
  });

  it('counts every non-internal, non-hit process as executed', () => {
    const summary = parseProcessSummary('INFO: 11 processes: 2 remote cache hit, 3 internal, 6 local.\n');
    expect(summary?.executed).toBe(6);
    expect(summary?.byKind['local']).toBe(6);
    expect(summary?.localExecuted).toBe(6);
    expect(summary?.remoteExecuted).toBe(0);
  });

  it('counts processes a remote executor ran apart from those that ran here', () => {
    // Bazel 4.2.3 with --remote_executor: its runner name for remote execution is "remote".
    const remote = parseProcessSummary('INFO: 12 processes: 3 internal, 9 remote.\n');
    expect(remote).toMatchObject({ total: 12, internal: 3, executed: 9, remoteExecuted: 9, localExecuted: 0, remoteCacheHits: 0 });
    // A mixed build: hits, remote runs and a fallback to the local sandbox all counted apart.
    const mixed = parseProcessSummary('INFO: 14 processes: 4 remote cache hit, 3 internal, 5 remote, 2 linux-sandbox.');
    expect(mixed).toMatchObject({ executed: 7, remoteExecuted: 5, localExecuted: 2, remoteCacheHits: 4 });
    expect(mixed?.byKind).toEqual({ 'remote cache hit': 4, internal: 3, remote: 5, 'linux-sandbox': 2 });
  });

  it('handles the singular form and a build that ran nothing', () => {
    expect(parseProcessSummary('INFO: 1 process: 1 internal.')?.internal).toBe(1);
    expect(parseProcessSummary('INFO: 0 processes.')).toMatchObject({ total: 0, executed: 0 });
  });

  it('uses the last summary when there are several, and undefined when there is none', () => {
    const two = 'INFO: 4 processes: 3 internal, 1 local.\nINFO: 9 processes: 6 remote cache hit, 3 internal.\n';
    expect(parseProcessSummary(two)?.remoteCacheHits).toBe(6);
    expect(parseProcessSummary('ERROR: build failed\n')).toBeUndefined();
  });
});

describe('parseExecutionLog', () => {
  // Bazel 4 writes pretty-printed objects back to back, with braces inside strings.
  const log =
    '{\n  "commandArgs": ["/bin/bash", "-c", "echo \\"{not a brace}\\" > out"],\n  "remotable": true,\n  "cacheable": true,\n' +
    '  "mnemonic": "Genrule",\n  "progressMessage": "Executing genrule //:a",\n  "listedOutputs": ["bazel-out/a.txt"],\n' +
    '  "actualOutputs": [{\n    "path": "bazel-out/a.txt",\n    "digest": {\n      "hash": "ab",\n      "sizeBytes": "3"\n    }\n  }],\n' +
    '  "runner": "remote cache hit",\n  "remoteCacheHit": true,\n  "exitCode": 0,\n  "remoteCacheable": true\n}' +
    '{\n  "mnemonic": "TestRunner",\n  "progressMessage": "Testing //:t",\n  "runner": "local",\n  "remoteCacheHit": false,\n' +
    '  "remoteCacheable": true\n}';

  it('splits concatenated objects and keeps the fields the tests read', () => {
    const spawns = parseExecutionLog(log);
    expect(spawns).toHaveLength(2);
    expect(spawns[0]).toMatchObject({
      mnemonic: 'Genrule',
      runner: 'remote cache hit',
      remoteCacheHit: true,
      remoteCacheable: true,
      actualOutputs: [{ path: 'bazel-out/a.txt', digest: { hash: 'ab', sizeBytes: '3' } }],
    });
    expect(spawns[1]).toMatchObject({ mnemonic: 'TestRunner', remoteCacheHit: false, listedOutputs: [] });
  });

  it('rejects a truncated log instead of silently dropping the last action', () => {
    expect(() => parseExecutionLog(log.slice(0, -3))).toThrow(/truncated/);
  });

  it('reads an empty log as no spawns', () => {
    expect(parseExecutionLog('')).toEqual([]);
  });
});
