// ActionCache on an upstream, for one instance. A missing entry is
// `undefined`, not an error: a miss is an answer.
import { type ActionResult, DIGEST_FUNCTION_SHA256, type MessageInit } from '../proto/reapi.js';
import type { Digest } from '../util/digest.js';
import { isNotFound } from '../util/errors.js';
import type { UpstreamChannel } from './channel.js';
import { GET_ACTION_RESULT, UPDATE_ACTION_RESULT } from './methods.js';

export interface InlineRequest {
  inlineStdout?: boolean;
  inlineStderr?: boolean;
  inlineOutputFiles?: string[];
}

export class AcClient {
  constructor(
    readonly channel: UpstreamChannel,
    readonly instanceName: string,
  ) {}

  /** The upstream's ActionResult for `actionDigest`, or undefined when it has none (NOT_FOUND). */
  async getActionResult(actionDigest: Digest, inline: InlineRequest = {}): Promise<ActionResult | undefined> {
    try {
      return await this.channel.unary(
        GET_ACTION_RESULT,
        { instanceName: this.instanceName, actionDigest, digestFunction: DIGEST_FUNCTION_SHA256, ...inline },
        this.instanceName,
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Stores `result` upstream; resolves to what the upstream stored (it may drop inlined bytes). */
  updateActionResult(actionDigest: Digest, result: MessageInit<ActionResult>): Promise<ActionResult> {
    return this.channel.unary(
      UPDATE_ACTION_RESULT,
      { instanceName: this.instanceName, actionDigest, actionResult: result, digestFunction: DIGEST_FUNCTION_SHA256 },
      this.instanceName,
    );
  }
}
