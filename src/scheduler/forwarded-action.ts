// What a forwarding scheduler asks its upstream to run. Normally the client's
// own Action. When a property_modifier in front changed the platform, the
// upstream must see the changed one, and it reads the platform from the
// Action (and, before REAPI 2.2, the Command), so both are rewritten with it:
// a new Action (and Command, if it carried a platform) stored in the local
// CAS and uploaded to the upstream's. The client's action digest stays the
// operation's name for everything else (merging, the local action cache).
import { ActionCodec, CommandCodec } from '../proto/reapi.js';
import { putBuffer, type StoreDriver } from '../stores/store.js';
import { type Digest, digestOf } from '../util/digest.js';
import { failedPrecondition } from '../util/errors.js';
import { copyMissing } from './action-blobs.js';
import type { JobRequest } from './job.js';
import { actionPlatform, platformMessage } from './platform.js';
import { sameProperties } from './property-modifications.js';

export interface ForwardedAction {
  readonly actionDigest: Digest;
  /** Blobs made for the upstream (the rewritten Action and Command); empty when the client's Action is sent. */
  readonly madeBlobs: readonly Digest[];
}

export async function forwardedAction(request: JobRequest, upstreamCas: () => StoreDriver): Promise<ForwardedAction> {
  if (sameProperties(actionPlatform(request.action, request.command), request.platform)) return { actionDigest: request.actionDigest, madeBlobs: [] };
  const cas = request.localStores?.cas;
  if (cas === undefined) {
    throw failedPrecondition('the platform of this action was modified, and forwarding the modified Action needs the local CAS, which the execution service did not pass');
  }
  const platform = platformMessage(request.platform);
  const blobs: Buffer[] = [];
  let commandDigest = request.action.commandDigest;
  // A pre-2.2 server reads only Command.platform: rewrite it too when the client put the platform there.
  if (request.command.platform !== null && request.command.platform.properties.length > 0) {
    const command = CommandCodec.encode({ ...request.command, platform });
    commandDigest = digestOf(command);
    blobs.push(command);
  }
  const action = ActionCodec.encode({ ...request.action, commandDigest, platform });
  blobs.push(action);
  const digests = blobs.map((b) => digestOf(b));
  await Promise.all(blobs.map((b, i) => putBuffer(cas, digests[i]!, b)));
  await copyMissing(cas, upstreamCas(), digests);
  return { actionDigest: digestOf(action), madeBlobs: digests };
}
