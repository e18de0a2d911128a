// Names of the filesystem store's temp files: an upload writes
// "<hash>-<size>.<uuid>.ncache-tmp" and renames it into place, the start-up
// check that rename() works between the two directories uses
// "probe-<uuid>.ncache-tmp". Whoever makes or recognizes one asks here (the
// store itself, and gc for the keys of uploads in progress).
import { randomUUID } from 'node:crypto';
import { type Digest, digestKey, parseDigestKey } from '../../util/digest.js';

const TEMP_SUFFIX = '.ncache-tmp';

/** A fresh temp file name for an upload of `key`. */
export function uploadTempName(key: Digest): string {
  return `${digestKey(key)}.${randomUUID()}${TEMP_SUFFIX}`;
}

/** A fresh temp file name for the rename probe. */
export function probeTempName(): string {
  return `probe-${randomUUID()}${TEMP_SUFFIX}`;
}

/** Whether a file name is one of ours (an upload's or a probe's temp file). */
export function isTempName(name: string): boolean {
  return name.endsWith(TEMP_SUFFIX);
}

/** The key an upload's temp file is for; undefined for a probe or a name that is no temp file. */
export function parseTempName(name: string): Digest | undefined {
  if (!isTempName(name)) return undefined;
  return parseDigestKey(name.slice(0, name.indexOf('.')));
}
