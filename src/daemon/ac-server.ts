// build.bazel.remote.execution.v2.ActionCache: ActionResults stored under
// the Action digest in each instance's AC store. Whether a result whose
// outputs left the CAS is hidden is up to the store (completeness_checking).
import {
  type ActionCacheHandlers,
  type ActionResult,
  ActionResultCodec,
  type GetActionResultRequest,
  type MessageInit,
  type UpdateActionResultRequest,
} from '../proto/reapi.js';
import { type StoreDriver, putBuffer, readBuffer, readBufferIfPresent } from '../stores/store.js';
import { type Digest, formatDigest, isEmptyDigest, validateDigest } from '../util/digest.js';
import { NcacheError, errorMessage, invalidArgument, isNotFound, notFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { checkDigestFunction, requireDigest, unaryHandler } from './call-utils.js';
import type { InstanceMap } from './instances.js';
import { MAX_INLINE_BYTES, MAX_METADATA_BLOB_BYTES } from './limits.js';

export interface AcInstance {
  readonly store: StoreDriver;
  readonly readOnly: boolean;
  /** The CAS of the same instance, for inlining outputs; undefined = never inline. */
  readonly cas: StoreDriver | undefined;
}

export interface AcServerOptions {
  readonly instances: InstanceMap<AcInstance>;
  readonly logger: Logger;
  readonly maxInlineBytes?: number;
}

export class AcServer {
  private readonly instances: InstanceMap<AcInstance>;
  private readonly logger: Logger;
  private readonly maxInlineBytes: number;

  constructor(opts: AcServerOptions) {
    this.instances = opts.instances;
    this.logger = opts.logger;
    this.maxInlineBytes = opts.maxInlineBytes ?? MAX_INLINE_BYTES;
  }

  handlers(): ActionCacheHandlers {
    return {
      getActionResult: unaryHandler('AcServer.getActionResult', this.logger, (req) => this.getActionResult(req)),
      updateActionResult: unaryHandler('AcServer.updateActionResult', this.logger, (req) => this.updateActionResult(req)),
    };
  }

  async getActionResult(req: GetActionResultRequest): Promise<ActionResult> {
    checkDigestFunction(req.digestFunction);
    const actionDigest = requireDigest(req.actionDigest, 'action_digest');
    const result = await this.readResult(req.instanceName, actionDigest);
    const cas = this.instances.get(req.instanceName).cas;
    if (cas !== undefined) await this.inline(result, req, cas);
    return result;
  }

  async updateActionResult(req: UpdateActionResultRequest): Promise<MessageInit<ActionResult>> {
    checkDigestFunction(req.digestFunction);
    const actionDigest = requireDigest(req.actionDigest, 'action_digest');
    const result = req.actionResult;
    if (result === null) throw invalidArgument('action_result is required');
    await this.writeResult(req.instanceName, actionDigest, result);
    return result;
  }

  /**
   * The stored result of an action, decoded: NOT_FOUND when there is none,
   * or when the store hides it because an output left the CAS
   * (completeness_checking). GetActionResult and the HTTP cache's GET /ac both read here.
   */
  async readResult(instanceName: string, actionDigest: Digest): Promise<ActionResult> {
    const instance = this.instances.get(instanceName);
    let bytes: Buffer;
    try {
      bytes = await readBuffer(instance.store, actionDigest, MAX_METADATA_BLOB_BYTES);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`no action result for action ${formatDigest(actionDigest)} (${errorMessage(err)})`);
      throw err;
    }
    try {
      return ActionResultCodec.decode(bytes);
    } catch (err) {
      throw new NcacheError(
        'INTERNAL',
        `the stored action result for ${formatDigest(actionDigest)} does not decode: ${errorMessage(err)}`,
      );
    }
  }

  /** Checks a result (read_only, well-formed digests) and stores it: UpdateActionResult and the HTTP cache's PUT /ac. */
  async writeResult(instanceName: string, actionDigest: Digest, result: ActionResult): Promise<void> {
    const instance = this.instances.get(instanceName);
    if (instance.readOnly) {
      throw new NcacheError(
        'PERMISSION_DENIED',
        `the action cache of instance ${JSON.stringify(instanceName)} is read-only (read_only: true)`,
      );
    }
    validateResultDigests(result);
    await putBuffer(instance.store, actionDigest, ActionResultCodec.encode(result));
  }

  /**
   * Fills stdout_raw / stderr_raw / output file contents where the client
   * asked and the bytes fit the budget. A blob missing from the CAS is
   * simply not inlined; the client can still fetch it by digest.
   */
  private async inline(result: ActionResult, req: GetActionResultRequest, cas: StoreDriver): Promise<void> {
    let budget = this.maxInlineBytes;
    const fetch = async (digest: Digest | null): Promise<Buffer | undefined> => {
      if (digest === null) return undefined;
      if (isEmptyDigest(digest)) return Buffer.alloc(0);
      if (digest.sizeBytes > budget) return undefined;
      try {
        const data = await readBufferIfPresent(cas, digest, digest.sizeBytes);
        if (data !== undefined) budget -= data.length;
        return data;
      } catch (err) {
        this.logger.warn(`AcServer: not inlining ${formatDigest(digest)}: ${errorMessage(err)}`);
        return undefined;
      }
    };
    if (req.inlineStdout && result.stdoutRaw.length === 0) {
      const data = await fetch(result.stdoutDigest);
      if (data !== undefined) result.stdoutRaw = data;
    }
    if (req.inlineStderr && result.stderrRaw.length === 0) {
      const data = await fetch(result.stderrDigest);
      if (data !== undefined) result.stderrRaw = data;
    }
    if (req.inlineOutputFiles.length > 0) {
      const wanted = new Set(req.inlineOutputFiles);
      for (const file of result.outputFiles) {
        if (!wanted.has(file.path) || file.contents.length > 0) continue;
        const data = await fetch(file.digest);
        if (data !== undefined) file.contents = data;
      }
    }
  }
}

/** Every digest in an uploaded result must be well-formed; errors name the field. */
function validateResultDigests(result: ActionResult): void {
  const check = (d: Digest | null, field: string) => {
    if (d !== null) validateDigest(d, `action_result.${field}`);
  };
  result.outputFiles.forEach((f, i) => {
    if (f.digest === null) throw invalidArgument(`action_result.output_files[${i}].digest is required (path ${JSON.stringify(f.path)})`);
    check(f.digest, `output_files[${i}].digest`);
  });
  result.outputDirectories.forEach((d, i) => {
    if (d.treeDigest === null && d.rootDirectoryDigest === null) {
      throw invalidArgument(`action_result.output_directories[${i}] has neither tree_digest nor root_directory_digest`);
    }
    check(d.treeDigest, `output_directories[${i}].tree_digest`);
    check(d.rootDirectoryDigest, `output_directories[${i}].root_directory_digest`);
  });
  check(result.stdoutDigest, 'stdout_digest');
  check(result.stderrDigest, 'stderr_digest');
}
