// Fuzz family 4: random config files through the loader, in process. Each
// case takes a valid config (the templates, the seed's NativeLink example)
// and damages it: fields deleted, duplicated, retyped, renamed, moved or
// wrapped; huge numbers, bad sizes and durations, broken ${VAR}s; or the text
// itself cut, spliced or nested absurdly deep.
// The oracle: the loader accepts (and validate's summary and warnings work on
// what it accepted) or throws a ConfigError whose issues each name a field
// path; never a TypeError, RangeError or stack overflow.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import JSON5 from 'json5';
import { ConfigError } from '../../../src/config/errors.js';
import { parseConfigText } from '../../../src/config/load.js';
import { collectWarnings, summarizeConfig } from '../../../src/config/schema.js';
import { serviceBindings } from '../../../src/config/service-bindings.js';
import { renderAwsConfig } from '../../../src/commands/init/aws.js';
import { repoRoot } from '../../helpers/daemon-process.js';
import { Prng } from '../../helpers/prng.js';
import { FuzzFailure, FuzzTally, caseIndices } from './tally.js';

/** The valid configs the cases start from: the built-in default, what `init --aws` writes, and the seed's NativeLink example. */
export const CONFIG_BASES = ['templates/local.json5', 'init --aws', 'test/fixtures/configs/nativelink-s3-example.json5'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ODD_VALUES: Json[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', 'abc', '-5gb', '1e999gb', '10xb', '99999999999999999999tb', '0.5kb',
  'NaN', '-1s', '1y', '1h-30m', '99999999999999999999d', '${NCACHE_FUZZ_UNSET}', '${A:-', '${}', '${1BAD}', '${HOME}/x', '~', '~nobody/x',
  '0.0.0.0:99999', '[::1]:50051', '127.0.0.1:-1', 'x'.repeat(5000), '\u0000', '🚀', [], {}, [[]], [null], { a: 1 }, { __proto__: 1 },
];
/** Values JSON cannot say but JSON5 can: written into the text after stringifying. */
const JSON5_ONLY = ['NaN', 'Infinity', '-Infinity', '0x7fffffff', '+1', '.5', '5.'];
const ODD_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', ' ', 'name', 'backend', 'memory', 'filesystem', 'ref_store', 'x'.repeat(300)];

interface Slot {
  readonly parent: Json[] | { [key: string]: Json };
  readonly key: string | number;
}

/** Every place a value sits in the tree (object members and array entries). */
function slots(root: Json): Slot[] {
  const out: Slot[] = [];
  const walk = (node: Json) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        out.push({ parent: node, key: i });
        walk(v);
      });
    } else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        out.push({ parent: node, key: k });
        walk(v);
      }
    }
  };
  walk(root);
  return out;
}

const get = (s: Slot): Json => (Array.isArray(s.parent) ? s.parent[s.key as number]! : s.parent[s.key as string]!);
const set = (s: Slot, v: Json) => {
  if (Array.isArray(s.parent)) s.parent[s.key as number] = v;
  else Object.defineProperty(s.parent, s.key as string, { value: v, enumerable: true, writable: true, configurable: true });
};
const remove = (s: Slot) => {
  if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
  else delete s.parent[s.key as string];
};
const clone = (v: Json): Json => JSON.parse(JSON.stringify(v)) as Json;

type TreeMutation = (root: Json, rng: Prng) => string;

const TREE_MUTATIONS: TreeMutation[] = [
  (root, rng) => {
    const s = rng.pick(slots(root));
    remove(s);
    return `deleted ${String(s.key)}`;
  },
  (root, rng) => {
    const arrays = slots(root).filter((s) => Array.isArray(get(s)) && (get(s) as Json[]).length > 0);
    if (arrays.length === 0) return 'no array to duplicate in';
    const list = get(rng.pick(arrays)) as Json[];
    list.push(clone(rng.pick(list)));
    return 'duplicated an array entry';
  },
  (root, rng) => {
    const s = rng.pick(slots(root));
    set(s, clone(rng.pick(ODD_VALUES)));
    return `retyped ${String(s.key)}`;
  },
  (root, rng) => {
    const s = rng.pick(slots(root));
    set(s, rng.chance(0.5) ? [get(s)] : { [rng.pick(ODD_KEYS)]: get(s) });
    return `wrapped ${String(s.key)}`;
  },
  (root, rng) => {
    const all = slots(root);
    const from = rng.pick(all);
    const to = rng.pick(all);
    set(to, clone(get(from)));
    return `copied ${String(from.key)} over ${String(to.key)}`;
  },
  (root, rng) => {
    const objects = slots(root).filter((s) => !Array.isArray(s.parent));
    if (objects.length === 0) return 'no key to rename';
    const s = rng.pick(objects);
    const v = get(s);
    remove(s);
    set({ parent: s.parent, key: rng.pick(ODD_KEYS) }, v);
    return `renamed ${String(s.key)}`;
  },
  (root, rng) => {
    const numbers = slots(root).filter((s) => {
      const v = get(s);
      return typeof v === 'number' || (typeof v === 'string' && /^\d/.test(v));
    });
    if (numbers.length === 0) return 'no number';
    const s = rng.pick(numbers);
    set(s, rng.pick([1e21, -1, 2 ** 64, 0, '1e21', '18446744073709551616', '9'.repeat(400), '1e-9', '0x10', '-0']));
    return `huge or negative ${String(s.key)}`;
  },
];

/** Text-level damage: cut short, a span deleted, random characters spliced in, or absurd nesting. */
function damageText(text: string, rng: Prng): string {
  const i = rng.int(text.length + 1);
  switch (rng.int(5)) {
    case 0:
      return text.slice(0, i);
    case 1:
      return text.slice(0, i) + text.slice(i + rng.between(1, 200));
    case 2:
      return text.slice(0, i) + rng.pick(['{', '}', '[', ']', ',', ':', '"', "'", '//', '/*', '\\', '\u0000', '\ufeff', '${']) + text.slice(i);
    case 3: {
      const depth = rng.pick([100, 1_000, 10_000, 100_000]);
      const open = rng.chance(0.5) ? '[' : '{a:';
      const close = open === '[' ? ']' : '}';
      return `{stores: ${open.repeat(depth)}1${close.repeat(depth)}, servers: []}`;
    }
    default:
      return text.replace(/\d+(\.\d+)?/, rng.pick(JSON5_ONLY));
  }
}

export interface ConfigCase {
  readonly base: string;
  readonly steps: string[];
  readonly text: string;
}

export function configCase(rng: Prng, bases: readonly { name: string; tree: Json; text: string }[]): ConfigCase {
  const base = rng.pick(bases);
  const steps: string[] = [];
  let text: string;
  if (rng.chance(0.8)) {
    const tree = clone(base.tree);
    for (let n = rng.chance(0.5) ? 1 : rng.between(2, 6); n > 0; n--) steps.push(rng.pick(TREE_MUTATIONS)(tree, rng));
    text = rng.chance(0.5) ? JSON.stringify(tree, null, 2) : JSON5.stringify(tree, null, 2);
    if (rng.chance(0.15)) {
      text = damageText(text, rng);
      steps.push('text damaged');
    }
  } else {
    text = damageText(base.text, rng);
    steps.push('text damaged');
  }
  return { base: base.name, steps, text };
}

export function loadBases(): { name: string; tree: Json; text: string }[] {
  return CONFIG_BASES.map((name) => {
    const text =
      name === 'init --aws'
        ? renderAwsConfig({ bucket: 'fuzz-bucket', region: 'eu-central-1', prefix: 'fuzz/' }, false, { kind: 'memory', sizeText: '100mb', maxBytes: 100_000_000 })
        : readFileSync(join(repoRoot(), name), 'utf8');
    return { name, text, tree: JSON5.parse<Json>(text) };
  });
}

/** What the fuzz loads with: the variables the templates use, and one a case may reference that is never set. */
const FUZZ_ENV: NodeJS.ProcessEnv = { HOME: '/home/fuzz', NCACHE_CACHE_DIR: '/tmp/ncache-fuzz-cache', AWS_REGION: 'eu-central-1' };

export interface ConfigFuzzOptions {
  readonly seed: number;
  readonly cases: number;
}

/** Runs the loader and what validate does with an accepted config; returns the outcome's name or throws a FuzzFailure. */
function judge(c: ConfigCase, fail: (why: string) => FuzzFailure): string {
  let config;
  try {
    config = parseConfigText(c.text, '<fuzz>', FUZZ_ENV);
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      throw fail(`threw ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)} instead of a ConfigError`);
    }
    if (err.issues.length === 0) throw fail('ConfigError with no issues');
    for (const issue of err.issues) {
      if (issue.message === '') throw fail(`an issue with no message at ${JSON.stringify(issue.path)}`);
      // Only a document that is not an object at all has no field to name.
      if (issue.path === '' && !/expected .*object|must be an object|top level/i.test(issue.message)) {
        throw fail(`an issue with no field path: ${issue.message}`);
      }
    }
    return err.issues[0]!.path.startsWith('<fuzz>:') ? 'ConfigError (syntax)' : 'ConfigError';
  }
  try {
    summarizeConfig(config);
    collectWarnings(config);
    serviceBindings(config);
  } catch (err) {
    throw fail(`accepted, then validate's summary or warnings threw ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
  return 'accepted';
}

export function fuzzConfigFiles(opts: ConfigFuzzOptions): FuzzTally {
  const tally = new FuzzTally('config files', opts.seed);
  const bases = loadBases();
  for (const index of caseIndices(opts.cases)) {
    const c = configCase(Prng.forCase(opts.seed, index), bases);
    const fail = (why: string) => new FuzzFailure(tally.family, opts.seed, index, `${c.base} [${c.steps.join('; ')}]\n${c.text}`, why);
    tally.count(judge(c, fail), c.base);
  }
  return tally;
}
