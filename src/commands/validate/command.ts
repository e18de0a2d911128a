// `ncache validate [file]` from the command line.
import { ConfigError } from '../../config/errors.js';
import { ReportedFailure } from '../exit.js';
import { printJson } from '../output.js';
import { type ValidateResult, validate } from './run.js';
import { printValidation } from './view.js';

export async function validateCommand(file: string | undefined, flags: { json?: boolean }): Promise<void> {
  let result: ValidateResult;
  try {
    result = await validate({ path: file });
  } catch (err) {
    // With --json, problems are data on stdout (still exit 1); otherwise cli.ts prints them.
    if (!(flags.json && err instanceof ConfigError)) throw err;
    printJson({ ok: false, source: err.source, issues: err.issues });
    throw new ReportedFailure();
  }
  if (flags.json) return printJson({ ok: true, ...result });
  printValidation(result);
}
