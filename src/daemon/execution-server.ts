// build.bazel.remote.execution.v2.Execution. ncache does not run actions yet:
// configured instances answer UNIMPLEMENTED with a message saying what to do.
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { ExecutionHandlers } from '../proto/reapi.js';
import { unimplemented } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { checkDigestFunction, failStream } from './call-utils.js';
import type { InstanceMap } from './instances.js';

export const EXECUTION_UNIMPLEMENTED_MESSAGE = 'remote execution is not implemented yet; use ncache as a remote cache';

export class ExecutionServer {
  constructor(
    private readonly instances: InstanceMap<true>,
    private readonly logger: Logger,
  ) {}

  handlers(): ExecutionHandlers {
    return {
      execute: (call) => {
        const fail = (err: unknown) => failStream(call as ServerWritableStream<unknown, unknown>, err, 'ExecutionServer.execute', this.logger);
        try {
          checkDigestFunction(call.request.digestFunction);
          this.instances.get(call.request.instanceName);
          fail(unimplemented(EXECUTION_UNIMPLEMENTED_MESSAGE));
        } catch (err) {
          fail(err);
        }
      },
      waitExecution: (call) => {
        failStream(call as ServerWritableStream<unknown, unknown>, unimplemented(EXECUTION_UNIMPLEMENTED_MESSAGE), 'ExecutionServer.waitExecution', this.logger);
      },
    };
  }
}
