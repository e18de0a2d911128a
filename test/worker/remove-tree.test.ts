// Removing an action directory an action left unwritable. Root ignores
// permission bits, so the removal runs in a child process as user nobody
// (through setpriv), the way a developer's daemon runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireBuilt } from '../helpers/kill-child.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();
const NOBODY = 65534;
const canDropPrivileges = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');

describe.skipIf(!canDropPrivileges)('removeTree as an unprivileged user', () => {
  it('removes a tree whose directories the action made read-only', async () => {
    requireBuilt('src/worker/remove-tree.js');
    const base = await tempDir('ncache-remove-', cleanups);
    await chmod(base, 0o755);
    const action = join(base, 'action-x');
    await mkdir(join(action, 'work/out/deep'), { recursive: true });
    await writeFile(join(action, 'work/out/deep/file'), 'x');
    for (const path of [action, join(action, 'work'), join(action, 'work/out'), join(action, 'work/out/deep'), join(action, 'work/out/deep/file')]) {
      await chown(path, NOBODY, NOBODY);
    }
    await chmod(join(action, 'work/out/deep'), 0o555);
    await chmod(join(action, 'work/out'), 0o555);
    await chown(base, NOBODY, NOBODY);
    const script = `import('${join(process.cwd(), 'dist/src/worker/remove-tree.js')}').then((m) => m.removeTree(${JSON.stringify(action)}))`;
    const run = spawnSync('/usr/bin/setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(existsSync(action)).toBe(false);
  });
});
