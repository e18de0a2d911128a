// Missing inputs are FAILED_PRECONDITION with one google.rpc.PreconditionFailure
// violation of type MISSING per blob, subject "blobs/{hash}/{size}": the only
// shape on which Bazel re-uploads them and retries the Execute.
import { GrpcStatus } from '../util/grpc-codes.js';
import { PRECONDITION_FAILURE_TYPE_URL, PreconditionFailureCodec, type Status } from '../proto/reapi.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { NcacheError } from '../util/errors.js';

/** Thrown while fetching inputs; carries every blob found missing, not just the first. */
export class MissingBlobsError extends NcacheError {
  constructor(
    readonly digests: readonly Digest[],
    what = 'input',
  ) {
    const shown = digests.slice(0, 5).map(formatDigest).join(', ');
    const more = digests.length > 5 ? ` and ${digests.length - 5} more` : '';
    super('FAILED_PRECONDITION', `${digests.length} ${what} blob(s) missing from the CAS: ${shown}${more}`);
    this.name = 'MissingBlobsError';
  }
}

/** The ExecuteResponse status for missing blobs (deduplicated). */
export function missingBlobsStatus(digests: readonly Digest[], message: string): Status {
  const unique = new Map(digests.map((d) => [digestKey(d), d]));
  const violations = [...unique.values()].map((d) => ({
    type: 'MISSING',
    subject: `blobs/${d.hash}/${d.sizeBytes}`,
    description: '',
  }));
  return {
    code: GrpcStatus.FAILED_PRECONDITION,
    message,
    details: [{ typeUrl: PRECONDITION_FAILURE_TYPE_URL, value: PreconditionFailureCodec.encode({ violations }) }],
  };
}
