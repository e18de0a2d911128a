// The daemon's side of the spawner process (spawner-process.ts): started on
// the first command, restarted on the first command after it died. Commands
// running when it dies reject with WorkerLostError (the scheduler retries
// them elsewhere or later); their process groups are the caller's to kill.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerLostError } from '../scheduler/job.js';
import { packageRoot } from '../util/paths.js';
import type { SpawnReply, SpawnRequest } from './spawner-protocol.js';

export type SpawnEnd =
  | { readonly type: 'exit'; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  /** The program could not be started (errno code such as ENOENT, EACCES). */
  | { readonly type: 'not-started'; readonly code: string | undefined; readonly message: string };

interface Pending {
  readonly onStarted: (pid: number) => void;
  readonly resolve: (end: SpawnEnd) => void;
  readonly reject: (err: Error) => void;
}

/** The compiled spawner script; under vitest this module is the .ts source, so it is dist's (npm test builds first). */
function spawnerScript(): string {
  const beside = fileURLToPath(new URL('./spawner-process.js', import.meta.url));
  return existsSync(beside) ? beside : join(packageRoot(), 'dist', 'src', 'worker', 'spawner-process.js');
}

export class Spawner {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly name: string) {}

  /**
   * Starts `argv` with its own process group, stdout and stderr created as
   * files. `onStarted` gets the pid (the group id) as soon as it runs.
   */
  spawn(request: Omit<SpawnRequest, 'id'>, onStarted: (pid: number) => void): Promise<SpawnEnd> {
    const child = this.running();
    const id = this.nextId++;
    return new Promise<SpawnEnd>((resolve, reject) => {
      this.pending.set(id, { onStarted, resolve, reject });
      if (this.pending.size === 1) this.hold(child, true);
      const message: SpawnRequest = { ...request, id };
      child.send(message, (err) => {
        if (err) this.settle(id)?.reject(new WorkerLostError(`${this.name}: cannot reach the spawner process: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Stops the spawner process (commands still running are not waited for). */
  async close(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.disconnect();
    await exited;
  }

  private running(): ChildProcess {
    if (this.child !== undefined) return this.child;
    const child = fork(spawnerScript(), [], {
      // Not the daemon's flags (profilers, loaders, heap sizes): the spawner is small and plain.
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    this.child = child;
    this.hold(child, false);
    child.on('message', (reply: SpawnReply) => this.receive(reply));
    const lost = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(new WorkerLostError(`${this.name}: the spawner process ${why} while the command ran`));
    };
    child.once('exit', (code, signal) => lost(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.once('error', (err) => lost(`failed (${err.message})`));
    return child;
  }

  private receive(reply: SpawnReply): void {
    if (reply.type === 'started') {
      this.pending.get(reply.id)?.onStarted(reply.pid);
      return;
    }
    const p = this.settle(reply.id);
    if (p === undefined) return;
    if (reply.type === 'failed') p.reject(Object.assign(new Error(reply.message), { code: reply.code }));
    else p.resolve(reply);
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (p !== undefined && this.pending.size === 0 && this.child !== undefined) this.hold(this.child, false);
    return p;
  }

  /** An idle spawner must not keep the daemon's (or a CLI's) event loop alive. */
  private hold(child: ChildProcess, busy: boolean): void {
    if (busy) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }
}
