// Shared helpers for the config tests: build configs as objects, parse them
// through the real loader, and read back the issues of a ConfigError.
import { expect } from 'vitest';
import { ConfigError, formatIssue } from '../../src/config/errors.js';
import { parseConfigText } from '../../src/config/load.js';
import type { NcacheConfig } from '../../src/config/types.js';

export const ENV = { HOME: '/home/tester' } as NodeJS.ProcessEnv;

/** A small valid config; tests override parts of it. */
export function baseConfig(): Record<string, any> {
  return {
    stores: [{ name: 'CAS', memory: { eviction_policy: { max_bytes: '10mb' } } }],
    servers: [
      {
        listener: { http: { socket_address: '127.0.0.1:0' } },
        services: { cas: [{ instance_name: '', cas_store: 'CAS' }] },
      },
    ],
  };
}

/** A config whose only store is `spec`, named "S". */
export function withStore(spec: Record<string, unknown>): Record<string, any> {
  const c = baseConfig();
  c.stores = [{ name: 'S', ...spec }];
  c.servers[0].services.cas[0].cas_store = 'S';
  return c;
}

export function parse(config: unknown, env: NodeJS.ProcessEnv = ENV, source = '<test>'): NcacheConfig {
  const text = typeof config === 'string' ? config : JSON.stringify(config, null, 2);
  return parseConfigText(text, source, env);
}

/** The "path: message" lines of the ConfigError that parsing `config` must throw. */
export function issuesOf(config: unknown, env: NodeJS.ProcessEnv = ENV): string[] {
  try {
    parse(config, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map(formatIssue);
  }
  throw new Error('expected the config to be rejected, but it loaded');
}

/** The normalized spec of the first store. */
export function firstStore(config: unknown, env: NodeJS.ProcessEnv = ENV) {
  return parse(config, env).stores[0]!.spec;
}
