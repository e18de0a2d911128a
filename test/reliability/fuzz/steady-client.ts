// A well-behaved client that keeps working while a fuzzer attacks the same
// daemon: upload a blob, ask FindMissingBlobs, read it back, compare. Every
// failure is kept; the fuzz tests expect none.
import { textBlob } from '../../helpers/data.js';
import type { ReapiClient } from '../../helpers/grpc-client.js';

export interface SteadyClient {
  /** Stops the loop after its current round and reports what it did. */
  stop(): Promise<{ rounds: number; errors: string[] }>;
}

export function startSteadyClient(client: ReapiClient, instance: string): SteadyClient {
  let running = true;
  let rounds = 0;
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        const data = textBlob(2000 + (rounds % 50) * 100, rounds);
        const digest = await client.uploadBlob(data, instance);
        const missing = await client.findMissingBlobs({ instanceName: instance, blobDigests: [digest] });
        if (missing.missingBlobDigests.length !== 0) throw new Error(`round ${rounds}: FindMissingBlobs reports the blob just uploaded missing`);
        const back = await client.downloadBlob(digest, instance);
        if (!back.equals(data)) throw new Error(`round ${rounds}: read back ${back.length} bytes that differ from the ${data.length} uploaded`);
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
      rounds++;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rounds, errors };
    },
  };
}
