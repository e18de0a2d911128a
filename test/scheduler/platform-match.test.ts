import { describe, expect, it } from 'vitest';
import {
  adjust,
  assertSatisfiable,
  capacityOf,
  fitsNow,
  neverMeets,
  preference,
  requirementsOf,
  type SupportedProperties,
} from '../../src/scheduler/platform-match.js';
import { NcacheError } from '../../src/util/errors.js';

const supported: SupportedProperties = { cpu_count: 'minimum', memory_kb: 'minimum', OSFamily: 'exact', pool: 'priority', 'container-image': 'ignore' };

function thrown(fn: () => unknown): NcacheError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NcacheError) return err;
    throw err;
  }
  throw new Error('expected an NcacheError');
}

describe('requirementsOf', () => {
  it('sorts properties by type and drops ignored ones', () => {
    const req = requirementsOf('MAIN', supported, { cpu_count: ['4'], OSFamily: ['Linux'], pool: ['fast'], 'container-image': ['docker://x'] });
    expect(req).toEqual({ minimum: { cpu_count: 4 }, exact: { OSFamily: ['Linux'] }, preferred: { pool: ['fast'] } });
  });

  it('refuses a property the scheduler does not list, naming it and the scheduler', () => {
    const err = thrown(() => requirementsOf('MAIN', supported, { gpu: ['1'] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('"gpu"');
    expect(err.message).toContain('"MAIN"');
    expect(err.message).toContain('cpu_count');
  });

  it('says so when the scheduler supports no property at all', () => {
    const err = thrown(() => requirementsOf('MAIN', {}, { OSFamily: ['Linux'] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('supported_platform_properties is empty');
  });

  it('refuses a non-numeric minimum value', () => {
    const err = thrown(() => requirementsOf('MAIN', supported, { cpu_count: ['many'] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('"cpu_count"');
    expect(err.message).toContain('"many"');
  });

  it('takes the larger of a minimum given twice', () => {
    expect(requirementsOf('MAIN', supported, { cpu_count: ['2', '6'] }).minimum).toEqual({ cpu_count: 6 });
  });

  it('does not treat inherited object keys as supported', () => {
    expect(thrown(() => requirementsOf('MAIN', supported, { constructor: ['x'] })).code).toBe('INVALID_ARGUMENT');
  });
});

describe('matching a worker', () => {
  const worker = { cpu_count: ['8'], OSFamily: ['Linux'], pool: ['slow'] };
  const total = capacityOf('w1', supported, worker);

  // [action platform, never meets (property or undefined), fits a fresh worker]
  const table: [string, Record<string, string[]>, string | undefined][] = [
    ['minimum below the worker', { cpu_count: ['4'] }, undefined],
    ['minimum equal to the worker', { cpu_count: ['8'] }, undefined],
    ['minimum above the worker', { cpu_count: ['16'] }, 'cpu_count'],
    ['minimum the worker does not declare', { memory_kb: ['1'] }, 'memory_kb'],
    ['minimum of zero the worker does not declare', { memory_kb: ['0'] }, undefined],
    ['exact equal', { OSFamily: ['Linux'] }, undefined],
    ['exact different', { OSFamily: ['Windows'] }, 'OSFamily'],
    ['priority never required', { pool: ['fast'] }, undefined],
    ['ignored property', { 'container-image': ['anything'] }, undefined],
    ['empty platform', {}, undefined],
  ];
  it.each(table)('%s', (_name, platform, gap) => {
    const req = requirementsOf('MAIN', supported, platform);
    expect(neverMeets(req, worker, total)?.property).toBe(gap);
    expect(fitsNow(req, worker, { ...total })).toBe(gap === undefined);
  });

  it('exact matches any of the worker\'s listed values', () => {
    const req = requirementsOf('MAIN', supported, { OSFamily: ['linux-arm'] });
    expect(neverMeets(req, { OSFamily: ['Linux', 'linux-arm'] }, {})).toBeUndefined();
  });

  it('running actions consume minimum amounts; giving them back restores the fit', () => {
    const req = requirementsOf('MAIN', supported, { cpu_count: ['5'] });
    const free = { ...total };
    expect(fitsNow(req, worker, free)).toBe(true);
    adjust(free, req, -1);
    expect(free.cpu_count).toBe(3);
    expect(fitsNow(req, worker, free)).toBe(false);
    expect(neverMeets(req, worker, total)).toBeUndefined(); // still possible by its total
    adjust(free, req, 1);
    expect(fitsNow(req, worker, free)).toBe(true);
  });

  it('prefers workers offering the priority values', () => {
    const req = requirementsOf('MAIN', supported, { pool: ['fast'] });
    expect(preference(req, { pool: ['fast'] })).toBe(1);
    expect(preference(req, { pool: ['slow'] })).toBe(0);
    expect(preference(req, {})).toBe(0);
  });

  it('refuses a worker whose minimum property is not a number, naming the worker', () => {
    const err = thrown(() => capacityOf('w9', supported, { cpu_count: ['lots'] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('"w9"');
    expect(err.message).toContain('cpu_count');
  });

  it('counts only the minimum properties the scheduler lists', () => {
    expect(capacityOf('w1', supported, { cpu_count: ['8'], OSFamily: ['Linux'], other: ['x'] })).toEqual({ cpu_count: 8 });
  });
});

describe('assertSatisfiable', () => {
  const workers = [
    { properties: { cpu_count: ['4'], OSFamily: ['Linux'] }, total: { cpu_count: 4 } },
    { properties: { cpu_count: ['8'], OSFamily: ['Linux'] }, total: { cpu_count: 8 } },
  ];

  it('passes when one worker could run it', () => {
    assertSatisfiable('MAIN', requirementsOf('MAIN', supported, { cpu_count: ['6'] }), workers);
  });

  it('is FAILED_PRECONDITION naming the property, the value and what workers offer', () => {
    const err = thrown(() => assertSatisfiable('MAIN', requirementsOf('MAIN', supported, { cpu_count: ['64'] }), workers));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain('"cpu_count" >= 64');
    expect(err.message).toContain('"4"');
    expect(err.message).toContain('"8"');
  });

  it('names an exact value nobody offers', () => {
    const err = thrown(() => assertSatisfiable('MAIN', requirementsOf('MAIN', supported, { OSFamily: ['Windows'] }), workers));
    expect(err.message).toContain('"OSFamily" "Windows"');
    expect(err.message).toContain('"Linux"');
  });

  it('does not decide with no workers at all (the scheduler waits for one)', () => {
    assertSatisfiable('MAIN', requirementsOf('MAIN', supported, { cpu_count: ['64'] }), []);
  });
});
