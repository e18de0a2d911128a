// `ncache validate` for people: the one-line summary on stdout, warnings on stderr.
import type { ValidateResult } from './run.js';

export function printValidation(result: ValidateResult): void {
  process.stdout.write(`ok: ${result.source}: ${result.summary}\n`);
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
}
