// The warning for a listener other machines can reach, by what locks it:
// nothing (anyone can read and write), bearer tokens without TLS (they can be
// read on the wire), and none at all on loopback.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectWarnings } from '../../src/config/schema.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';
import { baseConfig, parse } from './helpers.js';

const exposure = (c: unknown) => collectWarnings(parse(c)).filter((w) => w.includes('listener.http.socket_address'));

describe('the listener exposure warning', () => {
  let tokensFile = '';
  tempDirPerTest('ncache-exposure-', (dir) => (tokensFile = join(dir, 'tokens')));

  const listening = (socket_address: string, auth: boolean) => {
    const c = baseConfig();
    c.servers[0].listener.http = { socket_address, ...(auth ? { auth: { tokens_file: tokensFile } } : {}) };
    return c;
  };

  it('says anyone can read and write, and the fix, when a reachable listener has no auth', () => {
    for (const address of ['0.0.0.0:50051', '[::]:50051', '10.1.2.3:50051', 'cache.internal:50051']) {
      expect(exposure(listening(address, false))).toEqual([
        `servers[0].listener.http.socket_address: ${address} is reachable from other machines, with no TLS or authentication; ` +
          'anyone who can connect can read and write this cache. Add listener.http.auth with a tokens file (ncache init --aws --listen writes one), or listen on 127.0.0.1',
      ]);
    }
  });

  it('says the tokens cross the network unencrypted when a reachable listener has auth but no TLS', async () => {
    await writeFile(tokensFile, 'a-team-token-0123456789\n', { mode: 0o600 });
    expect(exposure(listening('0.0.0.0:50051', true))).toEqual([
      'servers[0].listener.http.socket_address: 0.0.0.0:50051 is reachable from other machines without TLS: ' +
        'the bearer tokens of servers[0].listener.http.auth cross the network unencrypted, so anyone who can watch it can take one',
    ]);
  });

  it('says nothing for loopback listeners, with or without auth', async () => {
    await writeFile(tokensFile, 'a-team-token-0123456789\n', { mode: 0o600 });
    for (const address of ['127.0.0.1:50051', '[::1]:50051', 'localhost:50051']) {
      expect(exposure(listening(address, false))).toEqual([]);
      expect(exposure(listening(address, true))).toEqual([]);
    }
  });
});
