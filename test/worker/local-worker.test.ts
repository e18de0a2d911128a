import { readdir, stat } from 'node:fs/promises';
import { waitFor } from '../helpers/wait-for.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActionResultCodec, type ActionResult } from '../../src/proto/reapi.js';
import { readBuffer } from '../../src/stores/store.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { control, workerFixture } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();

async function text(f: Awaited<ReturnType<typeof workerFixture>>, digest: { hash: string; sizeBytes: number } | null): Promise<string> {
  if (digest === null) return '';
  return (await readBuffer(f.cas, digest)).toString();
}

describe('LocalWorker', () => {
  it('runs a command over a nested input tree and stores its outputs, stdout and the action result', async () => {
    const f = await workerFixture(cleanups);
    const root = await f.putTree({ src: { 'a.txt': 'hello\n', deep: { 'b.txt': 'world\n' } }, 'run.sh': { text: 'cat src/a.txt src/deep/b.txt > out/joined.txt\necho done\n', executable: true } });
    const job = await f.job({ arguments: ['./run.sh'], outputFiles: ['out/joined.txt'], environmentVariables: [{ name: 'PATH', value: '/usr/bin:/bin' }] }, root);
    const outcome = await f.worker.run(job, control());
    expect(outcome.status.code).toBe(0);
    const result = outcome.result;
    expect(result.exitCode).toBe(0);
    expect(result.outputFiles.map((o) => o.path)).toEqual(['out/joined.txt']);
    expect(await text(f, result.outputFiles[0]!.digest)).toBe('hello\nworld\n');
    expect(await text(f, result.stdoutDigest)).toBe('done\n');
    expect(result.executionMetadata?.worker).toBe('test-worker');
    const cached: ActionResult = ActionResultCodec.decode(await readBuffer(f.ac, job.actionDigest));
    expect(cached.outputFiles[0]!.digest).toEqual(result.outputFiles[0]!.digest);
    // The action directory is gone.
    await waitFor(async () => (await readdir(f.workDirectory)).every((n) => !n.startsWith('action-')), { what: 'the action directory to be removed' });
    expect((await stat(join(f.workDirectory, '.exec-copies'))).isDirectory()).toBe(true);
  });
});
