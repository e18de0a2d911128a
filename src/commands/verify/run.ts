// `ncache verify`: asks the daemon to re-hash every blob of the chosen tiers
// (src/maintenance/verify.ts runs there, reading the tiers' own files/objects).
import type { ProgressUpdate } from '../../daemon/control/protocol.js';
import type { VerifyReport, VerifyTier } from '../../maintenance/verify.js';
import { connectToDaemon } from '../daemon-client.js';

export interface VerifyCommandOptions {
  tier?: VerifyTier;
  repair?: boolean;
  env?: NodeJS.ProcessEnv;
  onProgress?(p: ProgressUpdate): void;
}

export async function verify(opts: VerifyCommandOptions = {}): Promise<VerifyReport> {
  const client = await connectToDaemon(opts.env);
  return client.call('verify', { tier: opts.tier ?? 'all', repair: opts.repair === true }, { onProgress: opts.onProgress });
}
