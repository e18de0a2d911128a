// build.bazel.remote.execution.v2.Capabilities: tells clients (Bazel asks
// first) what each instance offers.
import {
  COMPRESSOR_ZSTD,
  type CapabilitiesHandlers,
  DIGEST_FUNCTION_SHA256,
  type GetCapabilitiesRequest,
  type MessageInit,
  SYMLINK_ABSOLUTE_PATH_ALLOWED,
  type ServerCapabilities,
} from '../proto/reapi.js';
import type { Logger } from '../util/logger.js';
import { unaryHandler } from './call-utils.js';
import type { InstanceMap } from './instances.js';
import { MAX_BATCH_TOTAL_SIZE_BYTES } from './limits.js';

/** What one instance name offers on this server. */
export interface InstanceCapabilities {
  /** A CAS, action cache or ByteStream is configured for the instance. */
  readonly cache: boolean;
  /** UpdateActionResult is accepted (an AC exists and is not read_only). */
  readonly updateEnabled: boolean;
  /** An execution service (which always names a scheduler) is configured for the instance: Execute runs actions. */
  readonly execution: boolean;
}

/** The REAPI versions ncache speaks: 2.0 (what Bazel 4 requires) through 2.3. */
export const LOW_API_VERSION = { major: 2, minor: 0 };
export const HIGH_API_VERSION = { major: 2, minor: 3 };

/** ExecutionPolicy.priority: any int32 is honoured (lower runs sooner, 0 by default). */
const EXECUTION_PRIORITIES = { minPriority: -(2 ** 31), maxPriority: 2 ** 31 - 1 };

export class CapabilitiesServer {
  constructor(
    private readonly instances: InstanceMap<InstanceCapabilities>,
    private readonly logger: Logger,
    private readonly maxBatchTotalSizeBytes = MAX_BATCH_TOTAL_SIZE_BYTES,
  ) {}

  handlers(): CapabilitiesHandlers {
    return {
      getCapabilities: unaryHandler('CapabilitiesServer.getCapabilities', this.logger, (req) => this.getCapabilities(req)),
    };
  }

  async getCapabilities(req: GetCapabilitiesRequest): Promise<MessageInit<ServerCapabilities>> {
    const caps = this.instances.get(req.instanceName);
    const result: MessageInit<ServerCapabilities> = {
      deprecatedApiVersion: LOW_API_VERSION,
      lowApiVersion: LOW_API_VERSION,
      highApiVersion: HIGH_API_VERSION,
    };
    if (caps.cache) {
      result.cacheCapabilities = {
        digestFunctions: [DIGEST_FUNCTION_SHA256],
        actionCacheUpdateCapabilities: { updateEnabled: caps.updateEnabled },
        cachePriorityCapabilities: { priorities: [{ minPriority: 0, maxPriority: 0 }] },
        maxBatchTotalSizeBytes: this.maxBatchTotalSizeBytes,
        symlinkAbsolutePathStrategy: SYMLINK_ABSOLUTE_PATH_ALLOWED,
        // identity is implied; zstd for compressed-blobs names and batch entries (src/daemon/compressed-blobs/).
        supportedCompressors: [COMPRESSOR_ZSTD],
        supportedBatchUpdateCompressors: [COMPRESSOR_ZSTD],
      };
    }
    if (caps.execution) {
      result.executionCapabilities = {
        digestFunction: DIGEST_FUNCTION_SHA256,
        digestFunctions: [DIGEST_FUNCTION_SHA256],
        execEnabled: true,
        executionPriorityCapabilities: { priorities: [EXECUTION_PRIORITIES] },
        // Outputs carry no node properties (mtime, mode): the worker keeps only is_executable.
        supportedNodeProperties: [],
      };
    }
    return result;
  }
}
