// `ncache get <hash>[/<size>]`: one blob (or, with --ac, one ActionResult)
// from the daemon, streamed to stdout or to a file. A file is written beside
// its destination under a temporary name and renamed into place only when
// every byte arrived, so a failed or interrupted get never leaves half a file.
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { GetParams } from '../../daemon/control/api.js';
import type { GetResult } from '../../daemon/control/get.js';
import { NcacheError } from '../../util/errors.js';
import { connectToDaemon } from '../daemon-client.js';
import { UsageError } from '../exit.js';
import { type DecodeType, type Decoded, decodeMessage } from './decode.js';

/** stdout was closed by its reader (`ncache get ... | head`): stop quietly. */
export class PipeClosedError extends Error {}

export interface BlobArgument {
  readonly hash: string;
  readonly size: number | undefined;
}

/** Parses `<hash>` or `<hash>/<size>` (a SHA-256 in hex, a byte count); anything else is a usage error (exit 2). */
export function parseBlobArgument(text: string): BlobArgument {
  const m = /^([0-9a-fA-F]{64})(?:\/(\d{1,16}))?$/.exec(text.trim());
  if (m === null) {
    throw new UsageError(
      `${JSON.stringify(text)} is not a blob digest; expected <hash> or <hash>/<size>, the hash being 64 hex digits (SHA-256)`,
    );
  }
  const size = m[2] === undefined ? undefined : Number(m[2]);
  if (size !== undefined && !Number.isSafeInteger(size)) throw new UsageError(`${JSON.stringify(text)}: size ${m[2]} is too large`);
  return { hash: m[1]!.toLowerCase(), size };
}

export interface GetOptions {
  readonly blob: BlobArgument;
  /** Look the digest up in the action cache (an Action digest) instead of the CAS. */
  readonly ac?: boolean;
  readonly instance?: string;
  /** Write here (temp + rename) instead of to `stdout`. */
  readonly output?: string;
  /** Decode as a REAPI message and return it instead of writing bytes. */
  readonly decode?: boolean;
  /** With decode: the message type (default: ActionResult with --ac, else guessed). */
  readonly type?: DecodeType;
  readonly stdout?: Writable;
  readonly env?: NodeJS.ProcessEnv;
  /** Aborting hangs up (Ctrl-C): a file being written is removed. */
  readonly signal?: AbortSignal;
}

export interface GetOutcome {
  readonly result: GetResult;
  /** Where the bytes went: the file path, or "-" for stdout; undefined with --decode. */
  readonly writtenTo?: string;
  readonly decoded?: Decoded;
}

/** Largest value --decode reads into memory (REAPI messages are small). */
const MAX_DECODE_BYTES = 64 << 20;

export async function get(opts: GetOptions): Promise<GetOutcome> {
  const client = await connectToDaemon(opts.env);
  const params: GetParams = { hash: opts.blob.hash, size: opts.blob.size, ac: opts.ac === true, instance: opts.instance ?? '' };

  if (opts.decode) {
    const parts: Buffer[] = [];
    let total = 0;
    const result = await client.call('get', params, {
      signal: opts.signal,
      onBytes: (buf) => {
        total += buf.length;
        if (total > MAX_DECODE_BYTES) throw new NcacheError('INVALID_ARGUMENT', `the value is over ${MAX_DECODE_BYTES} bytes, too big to be a REAPI message; drop --decode`);
        parts.push(buf);
      },
    });
    const type = opts.type ?? (opts.ac ? 'actionresult' : undefined);
    const decoded = decodeMessage(Buffer.concat(parts, total), type, `${opts.ac ? 'action result' : 'blob'} ${result.digest}`);
    return { result, decoded };
  }

  if (opts.output === undefined) {
    const out = opts.stdout ?? process.stdout;
    // A reader that goes away (EPIPE) ends the call instead of crashing on an unhandled 'error'.
    const hangUp = new AbortController();
    let pipeClosed = false;
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') pipeClosed = true;
      hangUp.abort();
    };
    out.on('error', onError);
    const signal = opts.signal ? AbortSignal.any([opts.signal, hangUp.signal]) : hangUp.signal;
    try {
      const result = await client.call('get', params, { signal, onBytes: (buf) => writeWithBackpressure(out, buf) });
      return { result, writtenTo: '-' };
    } catch (err) {
      if (pipeClosed) throw new PipeClosedError('the reader of stdout went away');
      throw err;
    } finally {
      out.off('error', onError);
    }
  }

  const target = opts.output;
  const temp = join(dirname(target), `.${basename(target)}.ncache-${randomBytes(6).toString('hex')}.tmp`);
  const file = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
  const opened = new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', reject);
  });
  try {
    await opened;
    const result = await client.call('get', params, {
      signal: opts.signal,
      onBytes: (buf) => writeWithBackpressure(file, buf),
    });
    await closeFile(file);
    // On disk before it gets its name, so not even a power cut leaves a short file there.
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    return { result, writtenTo: target };
  } catch (err) {
    file.destroy();
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/** Resolves once the stream can take more (so a slow disk or pipe slows the daemon down, not memory up). */
function writeWithBackpressure(out: Writable, buf: Buffer): Promise<void> | void {
  if (out.write(buf)) return;
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      out.off('error', onError);
      resolve();
    };
    const onError = (err: Error) => {
      out.off('drain', onDrain);
      reject(err);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

/** Flushes and closes a file stream. */
function closeFile(file: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    file.once('error', reject);
    file.end(() => resolve());
  });
}
