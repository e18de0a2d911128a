// `ncache ops`, and the execution parts of `status` and `stats`, through the
// built CLI against a real daemon whose config runs no actions: they say so
// (plain and --json), and bad flags or params are refused naming them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpsResult } from '../../src/daemon/control/ops.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import type { StatusResult } from '../../src/daemon/control/status.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';

describe('ncache ops against a daemon that runs no actions', () => {
  let d: CliDaemon;

  beforeAll(async () => {
    d = await startCliDaemon();
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
  });

  it('lists no operations and says why; status and stats have no execution part', async () => {
    const plain = await d.run(['ops']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toBe('no schedulers: this daemon runs no actions (ncache init --exec writes a config that does)\n');

    const json = await d.run(['ops', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout) as OpsResult).toEqual({ operations: [], total: 0, schedulers: [] });

    const status = await d.run(['status', '--json']);
    expect((JSON.parse(status.stdout) as StatusResult).schedulers).toEqual([]);
    expect((await d.run(['status'])).stdout).not.toContain('execution:');
    const stats = await d.run(['stats', '--json']);
    expect((JSON.parse(stats.stdout) as StatsResult).execution).toBeNull();
  });

  it('refuses an unknown scheduler (exit 1) and bad flags (exit 2), naming them', async () => {
    const unknown = await d.run(['ops', '--scheduler', 'NOPE']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      'ncache: ops: param "scheduler": no scheduler named "NOPE" (this daemon runs no actions: its config has no schedulers)\n',
    );
    const stage = await d.run(['ops', '--stage', 'done']);
    expect(stage.code).toBe(2);
    expect(stage.stderr).toContain('error: --stage must be queued, executing, completed or all, got "done"');
    const limit = await d.run(['ops', '--limit', '-1']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit');
  });
});
