// `ncache get <digest>` from the command line.
import { ReportedFailure, UsageError } from '../exit.js';
import { DECODE_TYPES } from './decode.js';
import { type GetOutcome, PipeClosedError, get, parseBlobArgument } from './run.js';
import { printGetOutcome } from './view.js';

export interface GetFlags {
  output?: string;
  ac?: boolean;
  decode?: boolean;
  type?: string;
  instance: string;
}

export async function getCommand(text: string, flags: GetFlags): Promise<void> {
  const blob = parseBlobArgument(text);
  if (flags.type !== undefined && !flags.decode) throw new UsageError('--type applies only with --decode');
  const type = flags.type === undefined ? undefined : DECODE_TYPES.find((t) => t === flags.type);
  if (flags.type !== undefined && type === undefined) {
    throw new UsageError(`--type must be one of ${DECODE_TYPES.join(', ')}, got ${JSON.stringify(flags.type)}`);
  }
  if (flags.decode && flags.output !== undefined) throw new UsageError('--decode prints JSON to stdout; it does not combine with -o');
  // Ctrl-C hangs up cleanly, so a file being written is removed rather than left as a temp.
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  process.once('SIGTERM', () => interrupted.abort());
  let outcome: GetOutcome;
  try {
    outcome = await get({
      blob,
      ac: flags.ac === true,
      instance: flags.instance,
      output: flags.output,
      decode: flags.decode === true,
      type,
      signal: interrupted.signal,
    });
  } catch (err) {
    // `ncache get ... | head`: the reader has what it wanted; nothing to say.
    if (err instanceof PipeClosedError) throw new ReportedFailure();
    throw err;
  }
  printGetOutcome(outcome, flags.output);
}
