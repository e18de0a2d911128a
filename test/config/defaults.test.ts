// The built-in default config, the template it comes from, and where ncache
// looks for its cache and config directories.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUILT_IN_SOURCE,
  builtInDefaultConfig,
  defaultCacheDir,
  defaultConfigPath,
  defaultConfigText,
  defaultTemplatePath,
} from '../../src/config/defaults.js';
import { loadConfigFile } from '../../src/config/load.js';
import { collectWarnings, summarizeConfig } from '../../src/config/schema.js';
import { templatesDir } from '../../src/util/paths.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-defaults-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('directories', () => {
  it('cache dir: $XDG_CACHE_HOME/ncache, else ~/.cache/ncache', () => {
    expect(defaultCacheDir({ HOME: '/home/a' })).toBe('/home/a/.cache/ncache');
    expect(defaultCacheDir({ HOME: '/home/a', XDG_CACHE_HOME: '/xdg/cache' })).toBe('/xdg/cache/ncache');
    // The XDG spec says a relative or empty value is ignored.
    expect(defaultCacheDir({ HOME: '/home/a', XDG_CACHE_HOME: 'rel/cache' })).toBe('/home/a/.cache/ncache');
    expect(defaultCacheDir({ HOME: '/home/a', XDG_CACHE_HOME: '' })).toBe('/home/a/.cache/ncache');
  });

  it('config path: $XDG_CONFIG_HOME/ncache/config.json5, else ~/.config/ncache/config.json5', () => {
    expect(defaultConfigPath({ HOME: '/home/a' })).toBe('/home/a/.config/ncache/config.json5');
    expect(defaultConfigPath({ HOME: '/home/a', XDG_CONFIG_HOME: '/xdg/config' })).toBe('/xdg/config/ncache/config.json5');
  });
});

describe('the built-in default', () => {
  it('is a verified filesystem CAS and a completeness-checked filesystem AC under the cache dir, on 127.0.0.1:50051, instance ""', () => {
    const config = builtInDefaultConfig({ HOME: '/home/a', XDG_CACHE_HOME: '/var/cache/me' });
    expect(config.source).toBe(BUILT_IN_SOURCE);
    const cache = '/var/cache/me/ncache';
    expect(config.stores).toEqual([
      {
        name: 'CAS',
        spec: {
          kind: 'verify',
          verify_size: true,
          verify_hash: true,
          backend: {
            kind: 'filesystem',
            content_path: `${cache}/cas`,
            temp_path: `${cache}/tmp`,
            read_buffer_size: 32_768,
            block_size: 4096,
            eviction_policy: { max_bytes: 10_000_000_000, evict_bytes: 0, max_seconds: 0, max_count: 0 },
          },
        },
      },
      {
        name: 'AC',
        spec: {
          kind: 'completeness_checking',
          cas_store: { kind: 'ref_store', name: 'CAS' },
          backend: {
            kind: 'filesystem',
            content_path: `${cache}/ac`,
            temp_path: `${cache}/tmp-ac`,
            read_buffer_size: 32_768,
            block_size: 4096,
            eviction_policy: { max_bytes: 500_000_000, evict_bytes: 0, max_seconds: 0, max_count: 0 },
          },
        },
      },
    ]);
    expect(config.servers).toHaveLength(1);
    const server = config.servers[0]!;
    expect(server.listener.http.socket_address).toBe('127.0.0.1:50051');
    expect(server.services.cas).toEqual([{ instance_name: '', cas_store: 'CAS' }]);
    expect(server.services.ac).toEqual([{ instance_name: '', ac_store: 'AC', read_only: false }]);
    expect(server.services.bytestream?.cas_stores).toEqual({ '': 'CAS' });
    expect(server.services.capabilities).toEqual([{ instance_name: '' }]);
    expect(server.services.health).toEqual({});
    expect(server.services.execution).toBeUndefined();
    expect(config.schedulers).toEqual([]);
    expect(config.workers).toEqual([]);
  });

  it('follows HOME when XDG_CACHE_HOME is unset, and NCACHE_CACHE_DIR when set', () => {
    const fs = (env: NodeJS.ProcessEnv) => {
      const spec = builtInDefaultConfig(env).stores[0]!.spec;
      return spec.kind === 'verify' && spec.backend.kind === 'filesystem' ? spec.backend.content_path : undefined;
    };
    expect(fs({ HOME: '/home/b' })).toBe('/home/b/.cache/ncache/cas');
    expect(fs({ HOME: '/home/b', NCACHE_CACHE_DIR: '/fast/disk' })).toBe('/fast/disk/cas');
  });

  it('validates without warnings and summarizes on one line', () => {
    const config = builtInDefaultConfig({ HOME: '/home/a' });
    expect(collectWarnings(config)).toEqual([]);
    expect(summarizeConfig(config)).toBe(
      'stores: CAS = verify > filesystem, AC = completeness_checking > filesystem; servers: 127.0.0.1:50051 (cas, ac, capabilities, bytestream, health; instance "")',
    );
  });
});

describe('the template file', () => {
  it('is templates/local.json5 and is what the default is built from', () => {
    expect(defaultTemplatePath()).toBe(join(templatesDir(), 'local.json5'));
    const text = defaultConfigText();
    expect(text).toContain('${NCACHE_CACHE_DIR}/cas');
    expect(text).toContain('socket_address: "127.0.0.1:50051"');
  });

  it('validates when loaded as a file, exactly as `ncache init` writes it', async () => {
    const path = join(dir, 'config.json5');
    await writeFile(path, defaultConfigText());
    const env = { HOME: '/home/c' };
    const fromFile = await loadConfigFile(path, env);
    const builtIn = builtInDefaultConfig(env);
    expect({ ...fromFile, source: '' }).toEqual({ ...builtIn, source: '' });
    expect(fromFile.source).toBe(path);
  });

  it('loads straight from the templates directory too', async () => {
    const config = await loadConfigFile(defaultTemplatePath(), { HOME: '/home/d' });
    expect(config.stores.map((s) => s.name)).toEqual(['CAS', 'AC']);
  });
});
