// Per-listener limits: NativeLink's keys where it has one (max_decoding_message_size,
// advanced_http.experimental_http2_max_concurrent_streams), ncache's `limits`
// extension for the rest; unset keys resolve to the defaults in src/daemon/limits.ts.
import { describe, expect, it } from 'vitest';
import { collectWarnings } from '../../src/config/warnings.js';
import { LISTENER_LIMIT_DEFAULTS, listenerLimits } from '../../src/daemon/limits.js';
import { baseConfig, issuesOf, parse } from './helpers.js';

function withHttp(extra: Record<string, unknown>) {
  const c = baseConfig();
  Object.assign(c.servers[0].listener.http, extra);
  return c;
}

describe('listener limits', () => {
  it('read NativeLink keys and the limits extension, sizes and durations in their usual forms', () => {
    const http = parse(
      withHttp({
        max_decoding_message_size: '8mb',
        advanced_http: { experimental_http2_max_concurrent_streams: 64 },
        limits: { max_encoding_message_size: '16MiB', max_upload_size: '1gb', idle_timeout: '5m', upload_stall_timeout: '500ms' },
      }),
    ).servers[0]!.listener.http;
    expect(http.max_decoding_message_size).toBe(8_000_000);
    expect(http.limits).toEqual({ max_encoding_message_size: 16 * 1024 * 1024, max_upload_size: 1e9, idle_timeout: 300, upload_stall_timeout: 0.5 });
    expect(listenerLimits(http)).toEqual({
      maxReceiveMessageBytes: 8_000_000,
      maxSendMessageBytes: 16 * 1024 * 1024,
      maxConcurrentStreams: 64,
      maxUploadBytes: 1e9,
      idleTimeoutMs: 300_000,
      uploadStallMs: 500,
      maxBatchTotalBytes: 4_000_000,
    });
  });

  it('leave the parsed listener as written when unset, and resolve to the defaults', () => {
    const http = parse(baseConfig()).servers[0]!.listener.http;
    expect(http).toEqual({ socket_address: '127.0.0.1:0' });
    const d = LISTENER_LIMIT_DEFAULTS;
    expect(listenerLimits(http)).toEqual({
      maxReceiveMessageBytes: d.max_decoding_message_size,
      maxSendMessageBytes: d.max_encoding_message_size,
      maxConcurrentStreams: d.max_concurrent_streams,
      maxUploadBytes: d.max_upload_size,
      idleTimeoutMs: d.idle_timeout * 1000,
      uploadStallMs: d.upload_stall_timeout * 1000,
      maxBatchTotalBytes: 4 * 1024 * 1024,
    });
  });

  it('shrink the batch limit when a message could not carry 4 MiB of blobs', () => {
    const http = parse(withHttp({ max_decoding_message_size: '4mb' })).servers[0]!.listener.http;
    expect(listenerLimits(http).maxBatchTotalBytes).toBe(2_000_000);
  });

  it('name the field path of every bad value', () => {
    expect(
      issuesOf(
        withHttp({
          max_decoding_message_size: 1000,
          advanced_http: { experimental_http2_max_concurrent_streams: 0 },
          limits: { max_encoding_message_size: '1mb', max_upload_size: 0, idle_timeout: 0, upload_stall_timeout: 'soon', max_uploads: 3 },
        }),
      ),
    ).toEqual([
      'servers[0].listener.http.advanced_http.experimental_http2_max_concurrent_streams: expected a whole number of at least 1, got 0',
      'servers[0].listener.http.max_decoding_message_size: expected a size of at least 1048576 bytes, got 1000',
      'servers[0].listener.http.limits.max_encoding_message_size: expected a size of at least 4194304 bytes, got "1mb"',
      'servers[0].listener.http.limits.max_upload_size: expected a size of at least 1 bytes, got 0',
      'servers[0].listener.http.limits.idle_timeout: expected a duration above 0 like "30s", got 0',
      'servers[0].listener.http.limits.upload_stall_timeout: expected a duration like "90s" or "1h30m" or a number of seconds, got "soon"',
      expect.stringMatching(/^servers\[0\]\.listener\.http\.limits\.max_uploads: unknown field/),
    ]);
  });

  it('count max_concurrent_streams as applied: the advanced_http warning names only the others', () => {
    const applied = parse(withHttp({ advanced_http: { experimental_http2_max_concurrent_streams: 8 } }));
    expect(collectWarnings(applied).filter((w) => w.includes('advanced_http'))).toEqual([]);
    const mixed = parse(withHttp({ advanced_http: { experimental_http2_max_concurrent_streams: 8, http2_keep_alive_interval: 5 } }));
    expect(collectWarnings(mixed)).toContain('servers[0].listener.http.advanced_http: not applied by ncache (http2_keep_alive_interval)');
  });
});
