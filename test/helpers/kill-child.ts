// Crash tests: run a plain-ESM child script that reports progress as lines on
// stdout, and SIGKILL it the moment a line says it is time. The child runs
// the compiled code in dist/, so the build must exist.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './daemon-process.js';

export interface KilledChild {
  /** The signal the child died of (SIGKILL unless something else killed it). */
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Throws a clear error when `dist/<file>` has not been built. */
export function requireBuilt(file: string): void {
  if (!existsSync(join(repoRoot(), 'dist', file))) {
    throw new Error(`dist/${file} is not built: run npx tsc -p tsconfig.json first (the child process runs the compiled code)`);
  }
}

/**
 * Spawns `node script ...args` and feeds each complete stdout line to
 * `killNow` (all of them, also lines already written when the kill lands);
 * the first time it returns true the child is SIGKILLed. Rejects
 * if the child exits on its own first. `onSpawn` sees the process (cleanup).
 */
export async function runUntilKilled(
  script: string,
  args: readonly string[],
  killNow: (line: string) => boolean,
  onSpawn?: (child: ChildProcess) => void,
): Promise<KilledChild> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    let buffer = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      buffer += s;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        // Every line is seen, also those that arrive after the kill (progress counters stay exact).
        if (!killNow(line) || killed) continue;
        killed = true;
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', () => {
      if (!killed) reject(new Error(`child exited before it was killed: ${stderr}`));
    });
  });
  return { signal: await exited, stderr };
}
