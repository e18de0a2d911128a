// Typed descriptors of the upstream RPCs: the path grpc-js calls, and the
// protobufjs codecs of src/proto/reapi.ts for the request (in its encodable
// MessageInit form) and the response (decoded). Any service in the loaded
// protos can get one (the scheduler's Execution/Operations calls too).
import {
  type ActionResult,
  type BatchReadBlobsRequest,
  type BatchReadBlobsResponse,
  type BatchUpdateBlobsRequest,
  type BatchUpdateBlobsResponse,
  type FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
  type GetActionResultRequest,
  type GetCapabilitiesRequest,
  type MessageInit,
  type QueryWriteStatusRequest,
  type QueryWriteStatusResponse,
  type ReadRequest,
  type ReadResponse,
  SERVICE_NAMES,
  type ServerCapabilities,
  type UpdateActionResultRequest,
  type WriteRequest,
  type WriteResponse,
  codecFor,
  protoRoot,
} from '../proto/reapi.js';

export interface UpstreamMethod<Req, Res> {
  /** "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs". */
  readonly path: string;
  /** "ContentAddressableStorage.FindMissingBlobs", for messages. */
  readonly label: string;
  serialize(request: MessageInit<Req>): Buffer;
  deserialize(bytes: Buffer): Res;
}

/**
 * The descriptor of `method` of the service `serviceFullName` (e.g.
 * SERVICE_NAMES.execution, or "google.longrunning.Operations"). The proto
 * types are looked up on first use, so declaring one costs nothing.
 */
export function upstreamMethod<Req, Res>(serviceFullName: string, method: string): UpstreamMethod<Req, Res> {
  let codecs: { req: ReturnType<typeof codecFor<Req>>; res: ReturnType<typeof codecFor<Res>> } | undefined;
  const resolve = () => {
    if (codecs) return codecs;
    const m = protoRoot().lookupService(serviceFullName).methods[method];
    if (m === undefined) throw new Error(`${serviceFullName} has no method ${method}`);
    m.resolve();
    const reqType = m.resolvedRequestType;
    const resType = m.resolvedResponseType;
    if (reqType === null || resType === null) throw new Error(`${serviceFullName}.${method}: unresolved message types`);
    codecs = { req: codecFor<Req>(reqType.fullName.slice(1)), res: codecFor<Res>(resType.fullName.slice(1)) };
    return codecs;
  };
  const shortService = serviceFullName.slice(serviceFullName.lastIndexOf('.') + 1);
  return {
    path: `/${serviceFullName}/${method}`,
    label: `${shortService}.${method}`,
    serialize: (request) => resolve().req.encode(request),
    deserialize: (bytes) => resolve().res.decode(bytes),
  };
}

export const GET_CAPABILITIES = upstreamMethod<GetCapabilitiesRequest, ServerCapabilities>(SERVICE_NAMES.capabilities, 'GetCapabilities');
export const FIND_MISSING_BLOBS = upstreamMethod<FindMissingBlobsRequest, FindMissingBlobsResponse>(SERVICE_NAMES.cas, 'FindMissingBlobs');
export const BATCH_READ_BLOBS = upstreamMethod<BatchReadBlobsRequest, BatchReadBlobsResponse>(SERVICE_NAMES.cas, 'BatchReadBlobs');
export const BATCH_UPDATE_BLOBS = upstreamMethod<BatchUpdateBlobsRequest, BatchUpdateBlobsResponse>(SERVICE_NAMES.cas, 'BatchUpdateBlobs');
export const GET_ACTION_RESULT = upstreamMethod<GetActionResultRequest, ActionResult>(SERVICE_NAMES.ac, 'GetActionResult');
export const UPDATE_ACTION_RESULT = upstreamMethod<UpdateActionResultRequest, ActionResult>(SERVICE_NAMES.ac, 'UpdateActionResult');
export const BYTESTREAM_READ = upstreamMethod<ReadRequest, ReadResponse>(SERVICE_NAMES.bytestream, 'Read');
export const BYTESTREAM_WRITE = upstreamMethod<WriteRequest, WriteResponse>(SERVICE_NAMES.bytestream, 'Write');
export const QUERY_WRITE_STATUS = upstreamMethod<QueryWriteStatusRequest, QueryWriteStatusResponse>(SERVICE_NAMES.bytestream, 'QueryWriteStatus');
