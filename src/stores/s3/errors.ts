// Turns AWS SDK / network failures into NcacheErrors whose message names the
// bucket, the key, the AWS error code, and what the user can do: which IAM
// action is missing, that the bucket does not exist, or that it lives in
// another region. The code decides retries: UNAVAILABLE / DEADLINE_EXCEEDED
// are transient; everything else is an answer.
import { NcacheError, type ErrorCode, errorMessage } from '../../util/errors.js';

export type S3Op =
  | 'HeadObject'
  | 'GetObject'
  | 'PutObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListObjectsV2';

/** The IAM action each operation needs (the seed's policy grants exactly these). */
export const IAM_ACTION: Record<S3Op, string> = {
  HeadObject: 's3:GetObject',
  GetObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  DeleteObject: 's3:DeleteObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListObjectsV2: 's3:ListBucket',
};

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  Region?: string;
  Endpoint?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string> };
}

const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);
const CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'CredentialsProviderError']);

export interface S3ErrorContext {
  readonly op: S3Op;
  readonly bucket: string;
  readonly key?: string;
  readonly region?: string;
  readonly endpoint?: string;
}

function awsCode(e: SdkLikeError): string {
  // The SDK names socket errors "TimeoutError" even for a refused or reset connection: the errno says more.
  if (e.Code === undefined && e.code !== undefined && NETWORK.has(e.code)) return e.code;
  return e.Code ?? e.name ?? e.code ?? 'Unknown';
}

/** Maps a failure of one S3 call to an NcacheError (an NcacheError passes through). */
export function s3Error(err: unknown, ctx: S3ErrorContext): NcacheError {
  if (err instanceof NcacheError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  const code = awsCode(e);
  const where = ctx.key === undefined ? `s3://${ctx.bucket}` : `s3://${ctx.bucket}/${ctx.key}`;
  const make = (c: ErrorCode, what: string) =>
    new NcacheError(c, `S3 ${ctx.op} ${where}: ${what} (AWS error ${code}${status ? `, HTTP ${status}` : ''})`, { cause: err });

  if (code === 'NoSuchBucket') {
    return make('FAILED_PRECONDITION', `bucket "${ctx.bucket}" does not exist${ctx.endpoint ? ` at ${ctx.endpoint}` : ''}; create it or fix "bucket"`);
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException' || status === 301) {
    const actual = e.Region ?? e.$response?.headers?.['x-amz-bucket-region'] ?? regionIn(e.message);
    return make(
      'FAILED_PRECONDITION',
      `bucket "${ctx.bucket}" is in a different region${actual ? ` (${actual})` : ''} than configured (${ctx.region || 'unset'}); set "region"${actual ? ` to "${actual}"` : ''}`,
    );
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
    return make('NOT_FOUND', 'no such object');
  }
  if (CREDENTIALS.has(code)) {
    return make('PERMISSION_DENIED', `the AWS credentials were rejected or could not be loaded: ${e.message ?? code}`);
  }
  if (code === 'AccessDenied' || code === 'Forbidden' || status === 403) {
    const action = IAM_ACTION[ctx.op];
    const hint =
      ctx.op === 'HeadObject' || ctx.op === 'GetObject'
        ? ` (S3 also answers 403 for a missing object when s3:ListBucket is not granted on arn:aws:s3:::${ctx.bucket})`
        : '';
    return make('PERMISSION_DENIED', `access denied: the credentials lack the IAM permission ${action} on arn:aws:s3:::${ctx.bucket}/*${hint}`);
  }
  if (THROTTLING.has(code) || status === 503 || status === 429) {
    return make('UNAVAILABLE', 'S3 is throttling requests');
  }
  if (status !== undefined && status >= 500) return make('UNAVAILABLE', 'S3 server error');
  if (NETWORK.has(code) || /socket hang up|aborted|ECONNRESET|premature close/i.test(e.message ?? '')) {
    return make('UNAVAILABLE', `S3 unreachable, connection failed: ${e.message ?? code}`);
  }
  if (code === 'TimeoutError' || code === 'RequestTimeout' || code === 'RequestTimeoutException') {
    return make('DEADLINE_EXCEEDED', `the request timed out: ${e.message ?? code}`);
  }
  if (code === 'Region is missing' || /region is missing/i.test(e.message ?? '')) {
    return make('FAILED_PRECONDITION', 'no AWS region: set "region" in the store or AWS_REGION');
  }
  if (status !== undefined && status >= 400) return make('INVALID_ARGUMENT', `request rejected: ${e.message ?? code}`);
  return make('INTERNAL', errorMessage(err));
}

function regionIn(message: string | undefined): string | undefined {
  return message?.match(/expecting '([a-z0-9-]+)'/)?.[1] ?? message?.match(/region[^a-z]+([a-z]{2}-[a-z]+-\d)/i)?.[1];
}

/** Transient codes worth a retry (throttling, 5xx, timeouts, broken connections). */
export function isRetryableS3(err: unknown): boolean {
  return err instanceof NcacheError && (err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED');
}
