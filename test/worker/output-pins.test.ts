// The worker's outputs stay pinned against gc from before it asks the CAS for
// them until the ActionResult naming them is written: without that, a gc
// between the two could remove an output the cached result then names.
import { describe, expect, it } from 'vitest';
import { PinRegistry } from '../../src/maintenance/pins.js';
import { ActionResultCodec } from '../../src/proto/reapi.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import type { ByteStream, StoreDriver } from '../../src/stores/store.js';
import type { Digest } from '../../src/util/digest.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { control, workerFixture } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();

/** An action cache that records, as each result is written, which of its blobs are pinned. */
function pinCheckingAc(pins: PinRegistry): { store: StoreDriver; pinnedAtWrite: Map<string, boolean> } {
  const inner = new MemoryStore();
  const pinnedAtWrite = new Map<string, boolean>();
  const store: StoreDriver = {
    kind: 'memory',
    has: (keys) => inner.has(keys),
    getPart: (key, offset, length) => inner.getPart(key, offset, length),
    async update(key: Digest, source: ByteStream, size: number) {
      const parts: Buffer[] = [];
      for await (const chunk of source) parts.push(chunk);
      const bytes = Buffer.concat(parts);
      const result = ActionResultCodec.decode(bytes);
      const named = [...result.outputFiles.map((f) => f.digest), ...result.outputDirectories.map((d) => d.treeDigest), result.stdoutDigest];
      for (const digest of named) if (digest !== null) pinnedAtWrite.set(digest.hash, pins.isPinned(digest));
      await inner.update(key, (async function* () { yield bytes; })(), size);
    },
  };
  return { store, pinnedAtWrite };
}

describe('LocalWorker output pins', () => {
  it('holds every output, tree and stream digest pinned while the ActionResult is written, and releases them after', async () => {
    const pins = new PinRegistry();
    const ac = pinCheckingAc(pins);
    const f = await workerFixture(cleanups, {}, { pins, ac: ac.store });
    const root = await f.putTree({ 'run.sh': { text: 'mkdir -p out/dir\necho a > out/a.txt\necho b > out/dir/b.txt\necho done\n', executable: true } });
    const job = await f.job({ arguments: ['./run.sh'], outputFiles: ['out/a.txt'], outputDirectories: ['out/dir'], environmentVariables: [{ name: 'PATH', value: '/usr/bin:/bin' }] }, root);
    const outcome = await f.worker.run(job, control());
    expect(outcome.status.code).toBe(0);
    expect(outcome.result.outputDirectories).toHaveLength(1);
    // a.txt, the tree and stdout: each was pinned when the result naming it was written.
    expect(ac.pinnedAtWrite.size).toBe(3);
    expect([...ac.pinnedAtWrite.values()]).toEqual([true, true, true]);
    expect(pins.size).toBe(0);
  });

  it('releases the pins when the run fails after its outputs were stored', async () => {
    const pins = new PinRegistry();
    const failingAc: StoreDriver = {
      kind: 'memory',
      has: async (keys) => keys.map(() => undefined),
      getPart: () => Promise.reject(new Error('unused')),
      update: () => Promise.reject(new Error('the action cache is unreachable')),
    };
    const f = await workerFixture(cleanups, {}, { pins, ac: failingAc });
    const root = await f.putTree({ 'run.sh': { text: 'echo out > o.txt\n', executable: true } });
    const job = await f.job({ arguments: ['./run.sh'], outputFiles: ['o.txt'], environmentVariables: [{ name: 'PATH', value: '/usr/bin:/bin' }] }, root);
    const outcome = await f.worker.run(job, control());
    expect(outcome.status.code).not.toBe(0);
    expect(outcome.status.message).toContain('the action cache is unreachable');
    expect(pins.size).toBe(0);
  });
});
