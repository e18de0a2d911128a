// `ncache gc`: asks the daemon to collect garbage (src/maintenance/gc.ts runs
// there, where the stores and the in-flight requests are).
import type { ProgressUpdate } from '../../daemon/control/protocol.js';
import type { GcReport } from '../../maintenance/gc.js';
import { connectToDaemon } from '../daemon-client.js';

export interface GcCommandOptions {
  targetBytes?: number;
  olderThanSeconds?: number;
  dryRun?: boolean;
  env?: NodeJS.ProcessEnv;
  onProgress?(p: ProgressUpdate): void;
}

export async function gc(opts: GcCommandOptions = {}): Promise<GcReport> {
  const client = await connectToDaemon(opts.env);
  const { targetBytes, olderThanSeconds } = opts;
  return client.call('gc', { dryRun: opts.dryRun === true, targetBytes, olderThanSeconds }, { onProgress: opts.onProgress });
}
