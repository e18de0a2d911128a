// `ncache get` for people: a decoded message as JSON (and whether its type was
// a guess), or where the bytes went. Raw bytes to stdout are the output itself.
import { MESSAGE_NAMES } from './decode.js';
import type { GetOutcome } from './run.js';
import { printJson } from '../output.js';

export function printGetOutcome(outcome: GetOutcome, output: string | undefined): void {
  if (outcome.decoded !== undefined) {
    if (outcome.decoded.guessed) {
      process.stderr.write(`ncache: decoded as ${MESSAGE_NAMES[outcome.decoded.type]} (a guess; pass --type to choose)\n`);
    }
    return printJson(outcome.decoded.message);
  }
  if (output !== undefined) process.stderr.write(`wrote ${outcome.result.size} bytes (${outcome.result.digest}) to ${output}\n`);
}
