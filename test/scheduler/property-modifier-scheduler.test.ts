// NativeLink's property_modifier: the rules on their own (property-modifications.ts)
// and the scheduler in front of a real SimpleScheduler with a scripted worker.
import { afterEach, describe, expect, it } from 'vitest';
import type { PropertyModification } from '../../src/config/types.js';
import { modifyProperties } from '../../src/scheduler/property-modifications.js';
import { PropertyModifierScheduler } from '../../src/scheduler/property-modifier-scheduler.js';
import { SimpleScheduler } from '../../src/scheduler/simple-scheduler.js';
import { ManualClock } from '../../src/util/clock.js';
import { completion, jobRequest, ScriptedWorker, simpleSpec } from './scripted-worker.js';

describe('modifyProperties', () => {
  it('add sets the name to exactly that value, replacing what the action had (a map, as in NativeLink)', () => {
    expect(modifyProperties({ OSFamily: ['Linux'], tag: ['a', 'b'] }, [{ add: { name: 'tag', value: 'c' } }, { add: { name: 'container-image', value: 'docker://x' } }])).toEqual({
      OSFamily: ['Linux'],
      tag: ['c'],
      'container-image': ['docker://x'],
    });
  });

  it('remove drops every value of the name; removing an absent name does nothing', () => {
    expect(modifyProperties({ tag: ['a', 'b'], keep: ['1'] }, [{ remove: 'tag' }, { remove: 'absent' }])).toEqual({ keep: ['1'] });
  });

  it('applies the modifications in order', () => {
    const addThenRemove: PropertyModification[] = [{ add: { name: 'x', value: '1' } }, { remove: 'x' }];
    const removeThenAdd: PropertyModification[] = [{ remove: 'x' }, { add: { name: 'x', value: '1' } }];
    expect(modifyProperties({ x: ['0'] }, addThenRemove)).toEqual({});
    expect(modifyProperties({ x: ['0'] }, removeThenAdd)).toEqual({ x: ['1'] });
  });

  it('replace renames a property, only a matching value when one is given, to a new value when one is given', () => {
    expect(modifyProperties({ os: ['linux'] }, [{ replace: { name: 'os', new_name: 'OSFamily' } }])).toEqual({ OSFamily: ['linux'] });
    expect(modifyProperties({ os: ['linux'] }, [{ replace: { name: 'os', value: 'mac', new_name: 'OSFamily' } }])).toEqual({ os: ['linux'] });
    expect(modifyProperties({ os: ['linux', 'mac'] }, [{ replace: { name: 'os', value: 'mac', new_name: 'OSFamily', new_value: 'Darwin' } }])).toEqual({
      os: ['linux'],
      OSFamily: ['Darwin'],
    });
    expect(modifyProperties({}, [{ replace: { name: 'os', new_name: 'OSFamily' } }])).toEqual({});
  });

  it('leaves the input alone', () => {
    const input = { a: ['1'] };
    modifyProperties(input, [{ remove: 'a' }]);
    expect(input).toEqual({ a: ['1'] });
  });
});

describe('PropertyModifierScheduler', () => {
  const open: PropertyModifierScheduler[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  function build(modifications: PropertyModification[], supported: Record<string, 'exact' | 'priority' | 'minimum' | 'ignore'>) {
    const inner = new SimpleScheduler({ name: 'MAIN', spec: simpleSpec({ supported_platform_properties: supported }), clock: new ManualClock(), sweepIntervalMs: 0 });
    const s = new PropertyModifierScheduler('MAIN', modifications, inner);
    open.push(s);
    return { s, inner };
  }

  it('the nested scheduler and its worker see the modified platform; workers attach through it', async () => {
    const { s, inner } = build([{ remove: 'unknown-to-the-cluster' }, { add: { name: 'container-image', value: 'docker://img' } }], {
      'container-image': 'exact',
    });
    const worker = new ScriptedWorker('w1', { properties: { 'container-image': ['docker://img'] } });
    s.addWorker(worker);
    expect(inner.snapshot().workers.map((w) => w.id)).toEqual(['w1']);
    // Unmodified, the nested scheduler would refuse the property it does not list, and no worker offers an image-less slot.
    const handle = s.submit(jobRequest('a', { platform: { 'unknown-to-the-cluster': ['1'] } }));
    expect(worker.runs).toHaveLength(1);
    expect(worker.runs[0]!.job.platform).toEqual({ 'container-image': ['docker://img'] });
    worker.runs[0]!.finish();
    expect((await completion(handle)).outcome?.status.code).toBe(0);
    // Operations are the nested scheduler's: WaitExecution finds them through the wrapper.
    expect(s.find(handle.name)).toBe(inner.find(handle.name));
    expect(s.snapshot()).toMatchObject({ name: 'MAIN', kinds: ['property_modifier', 'simple'], counters: { submitted: 1, completed: 1 } });
  });

  it('without the modification the same action is refused by the nested scheduler, naming the property', () => {
    const { s } = build([], { 'container-image': 'exact' });
    expect(() => s.submit(jobRequest('a', { platform: { 'unknown-to-the-cluster': ['1'] } }))).toThrow(/unknown-to-the-cluster/);
  });
});
