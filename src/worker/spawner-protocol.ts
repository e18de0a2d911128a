// The JSON messages between the daemon and its spawner process (spawner-process.ts).

/** Daemon → spawner: start one command. */
export interface SpawnRequest {
  readonly id: number;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** Created (exclusively) by the spawner and given to the command as its stdout / stderr. */
  readonly stdoutPath: string;
  readonly stderrPath: string;
}

/** Spawner → daemon, for request `id`: started, then exit; or not-started (no such program); or failed. */
export type SpawnReply =
  | { readonly type: 'started'; readonly id: number; readonly pid: number }
  | { readonly type: 'exit'; readonly id: number; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  | { readonly type: 'not-started'; readonly id: number; readonly code: string | undefined; readonly message: string }
  | { readonly type: 'failed'; readonly id: number; readonly code: string | undefined; readonly message: string };
