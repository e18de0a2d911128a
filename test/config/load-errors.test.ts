// Malformed config files: each kind of problem is reported with the dot-path
// of the field and what was expected, all of them at once.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
import { NcacheError } from '../../src/util/errors.js';
import { ENV, baseConfig, issuesOf, withStore } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function loadError(name: string, text: string): Promise<ConfigError> {
  const path = join(dir, name);
  await writeFile(path, text);
  const err = await loadConfigFile(path, ENV).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('syntax errors', () => {
  it('name the file, line and column', async () => {
    const err = await loadError('bad-syntax.json5', '{\n  stores: [\n    { name: "CAS" memory: {} },\n  ],\n}\n');
    const path = join(dir, 'bad-syntax.json5');
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.path).toBe(`${path}:3:19`);
    expect(err.issues[0]!.message).toMatch(/^JSON5 syntax error: invalid character 'm'/);
    expect(err.message).toContain(`${path}:3:19: JSON5 syntax error`);
  });

  it('report an unexpected end of file', async () => {
    const err = await loadError('truncated.json5', '{ stores: [');
    expect(err.issues[0]!.path).toBe(`${join(dir, 'truncated.json5')}:1:12`);
    expect(err.issues[0]!.message).toMatch(/invalid end of input/);
  });

  it('report an empty file', async () => {
    const err = await loadError('empty.json5', '');
    expect(err.issues[0]!.message).toMatch(/JSON5 syntax error: invalid end of input/);
  });
});

describe('unreadable files', () => {
  it('report a missing file by path', async () => {
    const missing = join(dir, 'nope.json5');
    const err = await loadConfigFile(missing, ENV).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([{ path: missing, message: 'cannot read config file: no such file' }]);
  });

  it('report a directory given as the config', async () => {
    const sub = join(dir, 'a-directory');
    await mkdir(sub);
    const err = (await loadConfigFile(sub, ENV).catch((e: unknown) => e)) as ConfigError;
    expect(err.issues[0]!.message).toBe('cannot read config file: is a directory');
  });
});

describe('ConfigError', () => {
  it('is an INVALID_ARGUMENT NcacheError whose message lists every issue as "path: message"', async () => {
    const c = withStore({ filesystem: { content_path: 5, temp_path: '/t', read_buffer_size: true } });
    const text = JSON.stringify(c);
    const err = await loadError('types.json5', text);
    expect(err).toBeInstanceOf(NcacheError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.issues.length).toBe(2);
    const lines = err.message.split('\n');
    expect(lines[0]).toBe(`invalid config ${join(dir, 'types.json5')} (2 problems):`);
    expect(lines.slice(1)).toEqual([
      '  stores[0].filesystem.content_path: expected a path, got 5',
      '  stores[0].filesystem.read_buffer_size: expected a size like "64kb" or a number of bytes, got true',
    ]);
  });
});

describe('field errors name the dot-path and what was expected', () => {
  it('a bad size deep in a store tree', () => {
    const c = withStore({
      verify: { backend: { dedup: { index_store: { memory: {} }, content_store: { memory: {} }, min_size: 'abc' } } },
    });
    expect(issuesOf(c)).toEqual([
      'stores[0].verify.backend.dedup.min_size: expected a size like "64kb" or a number of bytes, got "abc"',
    ]);
  });

  it('bad durations, numbers, booleans and enums', () => {
    const c = withStore({
      filesystem: {
        content_path: '/c',
        temp_path: '/t',
        eviction_policy: { max_seconds: '5 parsecs', max_count: -1 },
      },
    });
    expect(issuesOf(c)).toEqual([
      'stores[0].filesystem.eviction_policy.max_seconds: expected a duration like "90s" or "1h30m" or a number of seconds, got "5 parsecs"',
      'stores[0].filesystem.eviction_policy.max_count: expected a whole number of at least 0, got -1',
    ]);
    const v = withStore({ verify: { backend: { noop: {} }, verify_size: 'yes' } });
    expect(issuesOf(v)).toEqual(['stores[0].verify.verify_size: expected true or false, got "yes"']);
    const fs = withStore({ fast_slow: { fast: { memory: {} }, slow: { noop: {} }, fast_direction: 'fast', slow_write_mode: 'later' } });
    expect(issuesOf(fs)).toEqual([
      'stores[0].fast_slow.fast_direction: expected one of "both", "update", "get", "read_only", got "fast"',
      'stores[0].fast_slow.slow_write_mode: expected one of "sync", "async", got "later"',
    ]);
  });

  it('whole seconds where the field is whole seconds', () => {
    const c = withStore({ memory: { eviction_policy: { max_seconds: '1500ms' } } });
    expect(issuesOf(c)).toEqual(['stores[0].memory.eviction_policy.max_seconds: expected a whole number of seconds, got "1500ms"']);
  });

  it('unknown fields, with a suggestion when one is close', () => {
    const c = withStore({ fast_slow: { fsat: { memory: {} }, slow: { noop: {} } } });
    expect(issuesOf(c)).toEqual([
      'stores[0].fast_slow.fast: missing required field (expected a store)',
      'stores[0].fast_slow.fsat: unknown field (did you mean "fast"?)',
    ]);
    const top = baseConfig();
    top.sotres = [];
    expect(issuesOf(top)).toEqual(['sotres: unknown field (did you mean "stores"?)']);
    const far = baseConfig();
    far.stores[0].memory.colour = 'blue';
    expect(issuesOf(far)).toEqual(['stores[0].memory.colour: unknown field (expected one of: eviction_policy)']);
  });

  it('store kinds: unknown, missing, several, unsupported', () => {
    expect(issuesOf(withStore({ memroy: {} }))).toEqual(['stores[0].memroy: unknown store kind or field (did you mean "memory"?)']);
    expect(issuesOf(withStore({}))[0]).toMatch(/^stores\[0\]: missing store kind \(expected one of: memory, filesystem, /);
    expect(issuesOf(withStore({ memory: {}, noop: {} }))).toEqual(['stores[0]: a store has exactly one kind, got "memory" and "noop"']);
    expect(issuesOf(withStore({ redis_store: { addresses: [] } }))).toEqual([
      'stores[0].redis_store: store kind "redis_store" is not supported by ncache (use filesystem or experimental_cloud_object_store)',
    ]);
    expect(issuesOf(withStore({ verify: { backend: 'memory' } }))[0]).toMatch(
      /^stores\[0\]\.verify\.backend: expected a store like \{ memory: \{\} \}/,
    );
  });

  it('a store without a name', () => {
    const c = baseConfig();
    c.stores.push({ noop: {} });
    expect(issuesOf(c)).toEqual(['stores[1].name: missing required field (every store needs a name)']);
  });

  it('the top level', () => {
    expect(issuesOf([])).toEqual(['the config must be an object like { stores: [...], servers: [...] }, got an array']);
    expect(issuesOf({})).toEqual([
      'stores: missing required field (expected an array of { name, <kind>: {...} })',
      'servers: missing required field (expected an array of servers)',
    ]);
    expect(issuesOf({ stores: 'x', servers: {} })).toEqual([
      'stores: expected an array of stores like [{ name: "CAS", memory: {} }], got "x"',
      'servers: expected an array of servers, got an object',
    ]);
    const c = baseConfig();
    c.experimental_origin_events = { publisher: { store: 'CAS' } };
    expect(issuesOf(c)).toEqual(['experimental_origin_events: experimental_origin_events is not supported by ncache; remove it']);
  });

  it('collects every problem of a file in one error', () => {
    const c = baseConfig();
    c.stores.push({ name: 'FS', filesystem: { content_path: '/c', temp_path: '/t', block_size: 'big' } });
    c.stores.push({ name: 'D', dedup: { index_store: { memory: {} }, content_store: { memory: {} }, min_size: '1mb', max_size: '1kb' } });
    c.servers[0].listener.http.socket_address = 'localhost';
    c.servers[0].services.ac = [{ ac_store: 'MISSING' }];
    c.global = { default_digest_hash_function: 'blake3', max_open_files: 0 };
    expect(issuesOf(c)).toEqual([
      'stores[1].filesystem.block_size: expected a size like "64kb" or a number of bytes, got "big"',
      'stores[2].dedup: chunk sizes must satisfy min_size <= normal_size <= max_size, got 1000000 / 262144 / 1000',
      'servers[0].listener.http.socket_address: expected HOST:PORT like "127.0.0.1:50051" or "[::1]:50051", got "localhost"',
      'global.max_open_files: expected a whole number of at least 1, got 0',
      'global.default_digest_hash_function: blake3 is not supported by ncache (only "sha256")',
      'servers[0].services.ac[0].ac_store: store "MISSING" does not exist (defined stores: "CAS", "FS", "D")',
    ]);
  });

  it('NaN and Infinity from JSON5 are not numbers of bytes', () => {
    const text = '{ stores: [{ name: "CAS", memory: { eviction_policy: { max_bytes: Infinity, max_count: NaN } } }], servers: [] }';
    expect(issuesOf(text)).toEqual([
      'stores[0].memory.eviction_policy.max_bytes: expected a size like "64kb" or a number of bytes, got Infinity',
      'stores[0].memory.eviction_policy.max_count: expected a whole number, got NaN',
    ]);
  });
});

// Found by the config fuzz (test/reliability/fuzz-config-files.test.ts, seed 11004).
describe('garbled configs end in a ConfigError, not a crash', () => {
  it('refuses nesting deeper than any config needs, naming where (case 0: a stack overflow in ${VAR} expansion)', async () => {
    const depth = 10_000;
    const err = await loadError('deep.json5', `{stores: ${'['.repeat(depth)}1${']'.repeat(depth)}, servers: []}`);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.path).toMatch(/^stores(\[0\]){64}$/);
    expect(err.issues[0]!.message).toMatch(/nested more than 64 levels deep/);
  });

  it('reports a store whose name is not a string once, without checking references against it (case 24: a TypeError)', () => {
    const config = baseConfig();
    config['stores'][0].name = ['CAS'];
    const issues = issuesOf(config);
    expect(issues.some((i) => i.startsWith('stores[0].name:'))).toBe(true);
    expect(issues.some((i) => /store "CAS" does not exist/.test(i))).toBe(true);
  });
});
