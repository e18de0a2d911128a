// The Range header of a GET (RFC 9110 §14): one `bytes=` range, in any of
// its three forms. Several ranges at once are answered with the whole value
// (the RFC lets a server ignore Range), which Bazel never asks for anyway.
import { HttpError } from './http-status.js';

/** Bytes [start, end] inclusive, as Content-Range writes them. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The range of a value of `size` bytes that `header` asks for; undefined for
 * the whole value (no header, a unit other than bytes, several ranges). An
 * unsatisfiable range is a 416 naming the size; a malformed one a 400.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return undefined;
  const spec = m[1]!.trim();
  if (spec.includes(',')) return undefined;
  const parts = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!parts || (parts[1] === '' && parts[2] === '')) throw new HttpError(400, `Range ${JSON.stringify(header)} is not "bytes=START-END", "bytes=START-" or "bytes=-LENGTH"`);
  const unsatisfiable = () =>
    new HttpError(416, `Range ${JSON.stringify(header)} is outside the value's ${size} bytes`, { 'content-range': `bytes */${size}` });
  if (parts[1] === '') {
    // The last N bytes.
    const suffix = Number(parts[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(parts[1]);
  const end = parts[2] === '' ? size - 1 : Math.min(Number(parts[2]), size - 1);
  if (parts[2] !== '' && Number(parts[2]) < start) throw new HttpError(400, `Range ${JSON.stringify(header)} ends before it starts`);
  if (start >= size) throw unsatisfiable();
  return { start, end };
}
