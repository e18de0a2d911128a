// How a command ends other than by returning: the exit codes (documented in
// README.md) and the two errors that pick one. src/cli.ts turns them into
// the process's exit code; commands only throw them.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT: the user insisted (a second Ctrl-C). */
export const EXIT_INTERRUPTED = 130;

/** Bad flags or arguments: each problem printed as "error: <problem>", then the help hint; exit 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.name = 'UsageError';
    this.problems = list;
  }
}

/** A failure whose details the command has already printed: exit without another message. */
export class ReportedFailure extends Error {
  constructor(readonly exitCode: number = EXIT_FAILED) {
    super(`exit ${exitCode}`);
    this.name = 'ReportedFailure';
  }
}
