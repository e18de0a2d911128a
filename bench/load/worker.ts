// One load-generator process (forked by run.ts with an IPC channel): its
// share of the clients, each on a connection of its own, one call at a time
// in a seeded mix until the deadline. Every read is checked against its
// digest; every error is counted. Results go back to the parent as one message.
import { createHash, randomUUID } from 'node:crypto';
import { slices } from '../blob-data.js';
import { ReapiClient } from '../reapi-client.js';
import {
  ACTION_COUNT,
  BLOB_COUNT,
  type RpcKind,
  actionDigest,
  actionOutput,
  blobData,
  blobDigest,
  byKind,
  isSmall,
  pickKind,
  prng,
} from './workload.js';

export interface WorkerTask {
  address: string;
  /** Ids of this worker's clients: each seeds its own PRNG with `seed + id`. */
  clientIds: number[];
  seed: number;
  durationMs: number;
}

export interface WorkerResult {
  latenciesMs: Record<RpcKind, number[]>;
  errorCount: number;
  /** The first few errors, for the report. */
  errors: string[];
  readChecks: number;
  readMismatches: number;
  bytesWritten: number;
  bytesRead: number;
  cpuSeconds: number;
}

export type ToWorker = { type: 'task'; task: WorkerTask } | { type: 'go' };
export type FromWorker = { type: 'ready' } | { type: 'result'; result: WorkerResult } | { type: 'failed'; message: string };

/** Blob ids and actions this process has seen stored: only those are read back, so a miss is an error. */
class Known {
  private readonly ids = new Set<number>();
  readonly all: number[] = [];
  readonly small: number[] = [];
  private readonly actionSet = new Set<number>();
  readonly actions: number[] = [];

  has(id: number): boolean {
    return this.ids.has(id);
  }
  add(id: number): void {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    this.all.push(id);
    if (isSmall(id)) this.small.push(id);
  }
  addAction(action: number): void {
    if (this.actionSet.has(action)) return;
    this.actionSet.add(action);
    this.actions.push(action);
  }
}

const sha256Hex = (chunks: Buffer[]) => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

class LoadClient {
  private readonly random: () => number;

  constructor(
    private readonly client: ReapiClient,
    seed: number,
    private readonly known: Known,
    private readonly out: WorkerResult,
  ) {
    this.random = prng(seed);
  }

  async run(deadline: number): Promise<void> {
    while (performance.now() < deadline) {
      const kind = pickKind(this.random);
      try {
        await this.one(kind);
      } catch (err) {
        this.fail(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private fail(message: string): void {
    this.out.errorCount++;
    if (this.out.errors.length < 20) this.out.errors.push(message);
  }

  private pick<T>(list: readonly T[]): T | undefined {
    return list.length === 0 ? undefined : list[Math.floor(this.random() * list.length)];
  }

  private randomBlob(): number {
    return Math.floor(this.random() * BLOB_COUNT);
  }

  private async timed<T>(kind: RpcKind, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const value = await call();
    this.out.latenciesMs[kind].push(performance.now() - start);
    return value;
  }

  private async one(kind: RpcKind): Promise<void> {
    switch (kind) {
      case 'FindMissingBlobs':
        return this.findMissing();
      case 'ByteStream.Write':
        return this.write(this.randomBlob());
      case 'ByteStream.Read': {
        const id = this.pick(this.known.all);
        return id === undefined ? this.write(this.randomBlob()) : this.read(id);
      }
      case 'BatchUpdateBlobs':
        return this.batchUpdate();
      case 'BatchReadBlobs':
        return this.known.small.length === 0 ? this.batchUpdate() : this.batchRead();
      case 'UpdateActionResult':
        return this.updateAction(Math.floor(this.random() * ACTION_COUNT));
      case 'GetActionResult': {
        const action = this.pick(this.known.actions);
        return action === undefined ? this.updateAction(Math.floor(this.random() * ACTION_COUNT)) : this.getAction(action);
      }
    }
  }

  private async findMissing(): Promise<void> {
    const ids = Array.from({ length: 10 + Math.floor(this.random() * 41) }, () => this.randomBlob());
    const digests = ids.map(blobDigest);
    const res = await this.timed('FindMissingBlobs', () => this.client.findMissingBlobs(digests));
    const missing = new Set(res.missingBlobDigests.map((d) => d.hash));
    const asked = new Set(ids.map((id) => blobDigest(id).hash));
    for (const hash of missing) if (!asked.has(hash)) this.fail(`FindMissingBlobs: reported ${hash}, which was not asked about`);
    for (const id of ids) if (!missing.has(blobDigest(id).hash)) this.known.add(id);
  }

  private async write(id: number): Promise<void> {
    const data = blobData(id);
    const digest = blobDigest(id);
    const res = await this.timed('ByteStream.Write', () => this.client.write(digest, slices(data), randomUUID()));
    if (res.committedSize !== data.length) throw new Error(`committed ${res.committedSize} of ${data.length} bytes`);
    this.out.bytesWritten += data.length;
    this.known.add(id);
  }

  private async read(id: number): Promise<void> {
    const digest = blobDigest(id);
    const chunks: Buffer[] = [];
    await this.timed('ByteStream.Read', () => this.client.read(digest, (c) => chunks.push(c)));
    this.check(chunks, digest.hash, `ByteStream.Read of blob ${id}`);
  }

  private check(chunks: Buffer[], hash: string, what: string): void {
    this.out.readChecks++;
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    this.out.bytesRead += bytes;
    const actual = sha256Hex(chunks);
    if (actual !== hash) {
      this.out.readMismatches++;
      this.fail(`${what}: ${bytes} bytes hashing to ${actual}, expected ${hash}`);
    }
  }

  private smallIds(from: () => number | undefined): number[] {
    const ids = new Set<number>();
    const want = 1 + Math.floor(this.random() * 8);
    for (let tries = 0; ids.size < want && tries < want * 4; tries++) {
      const id = from();
      if (id !== undefined && isSmall(id)) ids.add(id);
    }
    return [...ids];
  }

  private async batchUpdate(): Promise<void> {
    const ids = this.smallIds(() => this.randomBlob());
    if (ids.length === 0) return;
    const blobs = ids.map((id) => ({ digest: blobDigest(id), data: blobData(id) }));
    const res = await this.timed('BatchUpdateBlobs', () => this.client.batchUpdateBlobs(blobs));
    res.responses.forEach((r, i) => {
      if ((r.status?.code ?? 0) !== 0) this.fail(`BatchUpdateBlobs: entry ${i} answered ${r.status?.code} ${r.status?.message}`);
    });
    if (res.responses.length !== ids.length) throw new Error(`${res.responses.length} responses for ${ids.length} blobs`);
    for (const b of blobs) this.out.bytesWritten += b.data.length;
    for (const id of ids) this.known.add(id);
  }

  private async batchRead(): Promise<void> {
    const ids = this.smallIds(() => this.pick(this.known.small));
    const digests = ids.map(blobDigest);
    const res = await this.timed('BatchReadBlobs', () => this.client.batchReadBlobs(digests));
    const byHash = new Map(res.responses.map((r) => [r.digest?.hash, r]));
    for (const id of ids) {
      const hash = blobDigest(id).hash;
      const r = byHash.get(hash);
      if (r === undefined || (r.status?.code ?? 0) !== 0) {
        this.fail(`BatchReadBlobs: blob ${id} answered ${r?.status?.code ?? 'nothing'} ${r?.status?.message ?? ''}`);
        continue;
      }
      this.check([r.data], hash, `BatchReadBlobs of blob ${id}`);
    }
  }

  private async updateAction(action: number): Promise<void> {
    const output = actionOutput(action);
    // The AC is completeness-checked: the output must be stored first.
    if (!this.known.has(output)) await this.write(output);
    const result = { exitCode: 0, outputFiles: [{ path: `out/${action}`, digest: blobDigest(output), isExecutable: false }] };
    const digest = actionDigest(action);
    await this.timed('UpdateActionResult', () => this.client.updateActionResult(digest, result));
    this.known.addAction(action);
  }

  private async getAction(action: number): Promise<void> {
    const digest = actionDigest(action);
    const result = await this.timed('GetActionResult', () => this.client.getActionResult(digest));
    const got = result.outputFiles[0]?.digest?.hash;
    const want = blobDigest(actionOutput(action)).hash;
    this.out.readChecks++;
    if (got !== want) {
      this.out.readMismatches++;
      this.fail(`GetActionResult of action ${action}: output ${got ?? 'none'}, expected ${want}`);
    }
  }
}

async function runTask(task: WorkerTask, go: Promise<void>): Promise<WorkerResult> {
  const out: WorkerResult = {
    latenciesMs: byKind((): number[] => []),
    errorCount: 0,
    errors: [],
    readChecks: 0,
    readMismatches: 0,
    bytesWritten: 0,
    bytesRead: 0,
    cpuSeconds: 0,
  };
  const known = new Known();
  // A connection per client, as 200 Bazel clients would have.
  const clients = task.clientIds.map(() => new ReapiClient(task.address, '', { 'grpc.use_local_subchannel_pool': 1 }));
  try {
    // Hashing the universe up front keeps it out of the timed calls and off the clients' event loop during the run.
    for (let id = 0; id < BLOB_COUNT; id++) blobDigest(id);
    await Promise.all(clients.map((c) => c.getCapabilities()));
    process.send?.({ type: 'ready' } satisfies FromWorker);
    await go;
    const cpuStart = process.cpuUsage();
    const deadline = performance.now() + task.durationMs;
    await Promise.all(clients.map((c, i) => new LoadClient(c, task.seed + task.clientIds[i]!, known, out).run(deadline)));
    const cpu = process.cpuUsage(cpuStart);
    out.cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return out;
  } finally {
    for (const c of clients) c.close();
  }
}

function main(): void {
  let release!: () => void;
  const go = new Promise<void>((resolve) => (release = resolve));
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'go') release();
    else
      runTask(msg.task, go).then(
        (result) => process.send?.({ type: 'result', result } satisfies FromWorker, () => process.disconnect()),
        (err: unknown) =>
          process.send?.({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies FromWorker, () =>
            process.disconnect(),
          ),
      );
  });
}

main();
