// Rollback (src/util/rollback.ts): undo steps run last first, each once, all
// of them even when one throws, and they see the failure that caused them.
import { describe, expect, it } from 'vitest';
import { Rollback } from '../../src/util/rollback.js';

describe('Rollback', () => {
  it('undoes in reverse order, every step even if one throws, once', async () => {
    const rollback = new Rollback();
    const done: string[] = [];
    rollback.add(() => void done.push('control'));
    rollback.add(() => {
      done.push('catalog');
      throw new Error('close failed');
    });
    rollback.add(async (reason) => void done.push(`stores (${String(reason)})`));
    await rollback.run('boom');
    expect(done).toEqual(['stores (boom)', 'catalog', 'control']);
    await rollback.run('again');
    expect(done).toHaveLength(3);
  });
});
