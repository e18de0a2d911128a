// The status that ends a call: a gRPC code and message, from whatever a
// handler failed with, written as HTTP/2 header fields.
import type { OutgoingHttpHeaders } from 'node:http2';
import { errorMessage } from '../../util/errors.js';
import { grpcCode } from '../grpc-status.js';

export interface CallStatus {
  readonly code: number;
  readonly details: string;
}

export const OK: CallStatus = { code: 0, details: '' };

/** A CallError from the handlers (code and details), an NcacheError, or anything else as INTERNAL. */
export function statusOf(err: unknown): CallStatus {
  if (typeof err === 'object' && err !== null) {
    const { code, details } = err as { code?: unknown; details?: unknown };
    if (typeof code === 'number' && typeof details === 'string') return { code, details };
  }
  return { code: grpcCode(err), details: errorMessage(err) };
}

/**
 * grpc-message is percent-encoded: bytes outside printable ASCII, and '%',
 * as %XX of their UTF-8. A space at either end is encoded too: HTTP/2 field
 * values must not begin or end with whitespace, and a client drops one that
 * does (the whole message lost, not just the space).
 */
export function encodeGrpcMessage(message: string): string {
  let plain = message.length === 0 || (message.charCodeAt(0) !== 0x20 && message.charCodeAt(message.length - 1) !== 0x20);
  for (let i = 0; i < message.length && plain; i++) {
    const c = message.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return message;
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  bytes.forEach((byte, i) => {
    const edgeSpace = byte === 0x20 && (i === 0 || i === bytes.length - 1);
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 && !edgeSpace ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  });
  return out;
}

/** The trailer fields of `status`. */
export function statusFields(status: CallStatus): OutgoingHttpHeaders {
  return status.details === ''
    ? { 'grpc-status': String(status.code) }
    : { 'grpc-status': String(status.code), 'grpc-message': encodeGrpcMessage(status.details) };
}

const UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** grpc-timeout ("100m", "5S", at most 8 digits) in milliseconds; undefined when absent or malformed. */
export function parseTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return undefined;
  return Number(m[1]) * UNITS_MS[m[2]!]!;
}
