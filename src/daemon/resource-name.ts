// ByteStream resource names for CAS blobs, parsed strictly so a malformed
// name fails with a message that quotes it and says what was expected.
//
//   read:   {instance}/blobs/{hash}/{size}
//           {instance}/compressed-blobs/{compressor}/{hash}/{size}
//   write:  {instance}/uploads/{uuid}/blobs/{hash}/{size}[/{metadata}...]
//           {instance}/uploads/{uuid}/compressed-blobs/{compressor}/{hash}/{size}[/...]
//
// The instance name may have several segments, or none (then there is no
// leading slash). REAPI forbids its keywords as instance segments, which is
// what makes the split unambiguous.
import { type Digest, MAX_BLOB_SIZE, SHA256_HEX_LENGTH } from '../util/digest.js';
import { NcacheError, errorMessage, invalidArgument } from '../util/errors.js';

/** Compressors a compressed-blobs name may use here (REAPI's lowercase Compressor.Value names). */
export type Compressor = 'identity' | 'zstd';

export interface BlobResource {
  readonly instanceName: string;
  readonly digest: Digest;
  /** Set for `compressed-blobs/...` names; hash and size are then those of the uncompressed bytes. */
  readonly compressor: Compressor | undefined;
}

export interface UploadResource extends BlobResource {
  readonly uuid: string;
  /** The name without trailing metadata: identifies one upload for resuming. */
  readonly uploadKey: string;
}

const KEYWORDS = new Set(['blobs', 'uploads', 'actions', 'actionResults', 'operations', 'capabilities', 'compressed-blobs']);
const KNOWN_UNSUPPORTED_COMPRESSORS = new Set(['deflate', 'brotli']);
const DIGEST_FUNCTION_NAMES = new Set(['sha256', 'sha1', 'md5', 'vso', 'sha384', 'sha512', 'murmur3', 'sha256tree', 'blake3']);
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_NAME_LENGTH = 4096;

const READ_SHAPE = '"{instance}/blobs/{hash}/{size}" or "{instance}/compressed-blobs/zstd/{hash}/{size}"';
const WRITE_SHAPE =
  '"{instance}/uploads/{uuid}/blobs/{hash}/{size}" or "{instance}/uploads/{uuid}/compressed-blobs/zstd/{hash}/{size}"';

class NameError extends Error {}

export function parseReadResourceName(name: string): BlobResource {
  return withName(name, 'read', () => {
    const segs = splitName(name);
    const at = segs.findIndex((s) => s === 'blobs' || s === 'compressed-blobs');
    if (at < 0) throw new NameError(`expected ${READ_SHAPE}`);
    const instanceName = parseInstance(segs.slice(0, at));
    const { digest, compressor, rest } = parseBlobPart(segs, at);
    if (rest.length > 0) throw new NameError(`unexpected ${JSON.stringify(rest.join('/'))} after the size; expected ${READ_SHAPE}`);
    return { instanceName, digest, compressor };
  });
}

export function parseWriteResourceName(name: string): UploadResource {
  return withName(name, 'write', () => {
    const segs = splitName(name);
    const at = segs.indexOf('uploads');
    if (at < 0) throw new NameError(`expected ${WRITE_SHAPE}`);
    const instanceName = parseInstance(segs.slice(0, at));
    const uuid = segs[at + 1];
    if (uuid === undefined || uuid === '' || KEYWORDS.has(uuid)) {
      throw new NameError(`missing upload id after "uploads/"; expected ${WRITE_SHAPE}`);
    }
    const blobsAt = at + 2;
    if (segs[blobsAt] !== 'blobs' && segs[blobsAt] !== 'compressed-blobs') {
      throw new NameError(`expected "blobs" or "compressed-blobs" after the upload id; expected ${WRITE_SHAPE}`);
    }
    const { digest, compressor, rest } = parseBlobPart(segs, blobsAt);
    // Anything after the size is optional client metadata, which we ignore.
    const uploadKey = segs.slice(0, segs.length - rest.length).join('/');
    return { instanceName, digest, compressor, uuid, uploadKey };
  });
}

function withName<T>(name: string, what: 'read' | 'write', parse: () => T): T {
  try {
    if (name.length === 0) throw new NameError(`empty; expected ${what === 'read' ? READ_SHAPE : WRITE_SHAPE}`);
    if (name.length > MAX_NAME_LENGTH) throw new NameError(`longer than ${MAX_NAME_LENGTH} characters`);
    return parse();
  } catch (err) {
    if (err instanceof NcacheError && err.code !== 'INVALID_ARGUMENT') throw err;
    const shown = name.length > 300 ? JSON.stringify(name.slice(0, 300)) + '...' : JSON.stringify(name);
    throw invalidArgument(`bad ${what} resource name ${shown}: ${errorMessage(err)}`);
  }
}

function splitName(name: string): string[] {
  const segs = name.split('/');
  for (const seg of segs) {
    if (seg === '..' || seg === '.') throw new NameError(`"${seg}" segments are not allowed`);
  }
  return segs;
}

function parseInstance(segs: string[]): string {
  for (const seg of segs) {
    if (seg === '') throw new NameError('empty segment in the instance name (leading, trailing or double slash)');
    if (KEYWORDS.has(seg)) throw new NameError(`"${seg}" cannot be part of an instance name`);
  }
  return segs.join('/');
}

/** Parses `blobs/{hash}/{size}` or `compressed-blobs/{compressor}/{hash}/{size}` starting at segs[at]. */
function parseBlobPart(
  segs: string[],
  at: number,
): { digest: Digest; compressor: Compressor | undefined; rest: string[] } {
  let i = at + 1;
  let compressor: Compressor | undefined;
  if (segs[at] === 'compressed-blobs') {
    const c = segs[i++];
    if (c === undefined || c === '') throw new NameError('missing compressor after "compressed-blobs/"');
    if (c === 'identity' || c === 'zstd') compressor = c;
    else if (KNOWN_UNSUPPORTED_COMPRESSORS.has(c)) {
      throw new NameError(`compressor "${c}" is not supported by this server (supported: zstd, identity)`);
    } else throw new NameError(`unknown compressor ${JSON.stringify(c)} (supported: zstd, identity)`);
  }
  let hash = segs[i++];
  if (hash !== undefined && DIGEST_FUNCTION_NAMES.has(hash) && segs.length > i + 1) {
    // An explicit digest function segment: only useful for non-SHA-256 functions.
    if (hash !== 'sha256') throw new NameError(`digest function "${hash}" is not supported; this server uses sha256`);
    hash = segs[i++];
  }
  if (hash === undefined || hash === '') throw new NameError('missing hash');
  if (!HEX64.test(hash)) {
    throw new NameError(
      `hash ${JSON.stringify(hash.length > 80 ? hash.slice(0, 80) + '...' : hash)} is not ${SHA256_HEX_LENGTH} lowercase hex characters (SHA-256)`,
    );
  }
  const sizeText = segs[i++];
  if (sizeText === undefined || sizeText === '') throw new NameError('missing size after the hash');
  if (!/^[0-9]{1,16}$/.test(sizeText)) {
    throw new NameError(`size ${JSON.stringify(sizeText.slice(0, 40))} is not a non-negative decimal integer`);
  }
  const sizeBytes = Number(sizeText);
  if (sizeBytes > MAX_BLOB_SIZE) throw new NameError(`size ${sizeText} is larger than the limit ${MAX_BLOB_SIZE}`);
  return { digest: { hash, sizeBytes }, compressor, rest: segs.slice(i) };
}

/** The download name for a digest (what clients pass to ByteStream.Read). */
export function readResourceName(instanceName: string, digest: Digest): string {
  const blob = `blobs/${digest.hash}/${digest.sizeBytes}`;
  return instanceName === '' ? blob : `${instanceName}/${blob}`;
}

/** An upload name for a digest (what clients pass to ByteStream.Write). */
export function writeResourceName(instanceName: string, uuid: string, digest: Digest): string {
  const upload = `uploads/${uuid}/blobs/${digest.hash}/${digest.sizeBytes}`;
  return instanceName === '' ? upload : `${instanceName}/${upload}`;
}
