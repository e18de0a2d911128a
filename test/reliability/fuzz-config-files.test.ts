// Short form of the config fuzz (family 4 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { describe, expect, it } from 'vitest';
import { fuzzSeed } from '../helpers/prng.js';
import { fuzzConfigFiles } from './fuzz/config-files.js';

describe('random config files through the loader', () => {
  it('accepts each or throws a ConfigError naming field paths, never anything else', () => {
    const tally = fuzzConfigFiles({ seed: fuzzSeed(11_004), cases: 600 });
    console.log(tally.summary());
    expect(tally.outcomes.get('accepted')).toBeGreaterThan(0);
    expect(tally.outcomes.get('ConfigError')).toBeGreaterThan(0);
  });
});
