import { describe, expect, it } from 'vitest';
import { ENV, baseConfig, issuesOf, parse, withStore } from './helpers.js';

const fsStore = (content: string, temp = '/tmp/ncache-test/tmp') => withStore({ filesystem: { content_path: content, temp_path: temp } });

describe('${VAR} expansion', () => {
  it('substitutes set variables anywhere in a string', () => {
    const c = parse(fsStore('/data/${USER_DIR}/cas'), { ...ENV, USER_DIR: 'alice' });
    expect(c.stores[0]!.spec).toMatchObject({ kind: 'filesystem', content_path: '/data/alice/cas' });
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty', () => {
    expect(parse(fsStore('${ROOT:-/var/cache}/cas')).stores[0]!.spec).toMatchObject({ content_path: '/var/cache/cas' });
    expect(parse(fsStore('${ROOT:-/var/cache}/cas'), { ...ENV, ROOT: '' }).stores[0]!.spec).toMatchObject({
      content_path: '/var/cache/cas',
    });
    expect(parse(fsStore('${ROOT:-/var/cache}/cas'), { ...ENV, ROOT: '/srv' }).stores[0]!.spec).toMatchObject({
      content_path: '/srv/cas',
    });
  });

  it('expands before typed fields are read, so a variable can hold a size or a number', () => {
    const c = baseConfig();
    c.stores[0].memory.eviction_policy = { max_bytes: '${MEM:-100mb}', max_count: '${COUNT}' };
    const spec = parse(c, { ...ENV, COUNT: '42' }).stores[0]!.spec;
    expect(spec).toMatchObject({ kind: 'memory', eviction_policy: { max_bytes: 100_000_000, max_count: 42 } });
  });

  it('expands booleans given as strings', () => {
    const c = withStore({ verify: { backend: { memory: {} }, verify_hash: '${CHECK:-true}' } });
    expect(parse(c).stores[0]!.spec).toMatchObject({ kind: 'verify', verify_hash: true });
  });

  it('reports an unset variable without a default, naming the field and the variable', () => {
    const c = fsStore('${NCACHE_TEST_UNSET_VAR}/cas');
    expect(issuesOf(c)).toEqual([
      'stores[0].filesystem.content_path: environment variable NCACHE_TEST_UNSET_VAR is not set (referenced as ${NCACHE_TEST_UNSET_VAR}; use ${NCACHE_TEST_UNSET_VAR:-default} for a fallback)',
    ]);
  });

  it('reports every unset variable, once each, and not again as a type error', () => {
    const c = baseConfig();
    c.stores[0].memory.eviction_policy = { max_bytes: '${NO_SIZE}' };
    c.servers[0].listener.http.socket_address = '${NO_ADDR}';
    const issues = issuesOf(c);
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(/^stores\[0\]\.memory\.eviction_policy\.max_bytes: environment variable NO_SIZE is not set/);
    expect(issues[1]).toMatch(/^servers\[0\]\.listener\.http\.socket_address: environment variable NO_ADDR is not set/);
  });

  it('rejects malformed and unterminated references', () => {
    expect(issuesOf(fsStore('${1BAD}/cas'))).toEqual([
      'stores[0].filesystem.content_path: malformed variable reference ${1BAD} (use ${NAME} or ${NAME:-default})',
    ]);
    expect(issuesOf(fsStore('/x/${OPEN'))[0]).toMatch(/content_path: unterminated variable reference in "\/x\/\$\{OPEN" \(missing "\}"\)/);
  });

  it('leaves a bare "$" alone', () => {
    const c = parse(fsStore('/data/$HOME/a$b'));
    expect(c.stores[0]!.spec).toMatchObject({ content_path: '/data/$HOME/a$b' });
  });

  it('provides NCACHE_CACHE_DIR from XDG_CACHE_HOME or HOME unless it is set', () => {
    expect(parse(fsStore('${NCACHE_CACHE_DIR}/cas')).stores[0]!.spec).toMatchObject({ content_path: '/home/tester/.cache/ncache/cas' });
    expect(parse(fsStore('${NCACHE_CACHE_DIR}/cas'), { ...ENV, XDG_CACHE_HOME: '/xdg' }).stores[0]!.spec).toMatchObject({
      content_path: '/xdg/ncache/cas',
    });
    expect(parse(fsStore('${NCACHE_CACHE_DIR}/cas'), { ...ENV, NCACHE_CACHE_DIR: '/elsewhere' }).stores[0]!.spec).toMatchObject({
      content_path: '/elsewhere/cas',
    });
  });
});

describe('~ in paths', () => {
  it('expands ~ and ~/ to the home directory in path fields', () => {
    const c = parse(fsStore('~/cache/cas', '~'));
    expect(c.stores[0]!.spec).toMatchObject({ content_path: '/home/tester/cache/cas', temp_path: '/home/tester' });
  });

  it('does not expand ~ in fields that are not paths', () => {
    const c = withStore({ experimental_cloud_object_store: { provider: 'aws', bucket: 'b', key_prefix: '~/x/' } });
    expect(parse(c).stores[0]!.spec).toMatchObject({ key_prefix: '~/x/' });
  });

  it('rejects ~user, which would need a user database lookup', () => {
    expect(issuesOf(fsStore('~bob/cas'))).toEqual([
      'stores[0].filesystem.content_path: "~user" paths are not supported, got "~bob/cas"; write the full path',
    ]);
  });

  it('resolves relative paths against the config file directory', () => {
    const c = parse(fsStore('data/cas', './tmp'), ENV, '/etc/ncache/config.json5');
    expect(c.stores[0]!.spec).toMatchObject({ content_path: '/etc/ncache/data/cas', temp_path: '/etc/ncache/tmp' });
  });
});
