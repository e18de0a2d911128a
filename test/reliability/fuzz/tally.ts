// What a fuzz run counts and how it fails: outcomes tallied by name (a gRPC
// status, "accepted", "ConfigError", ...), and a failure that carries the
// seed and case index so the one case replays with FUZZ_SEED and FUZZ_CASE.

export class FuzzTally {
  /** Cases by outcome. */
  readonly outcomes = new Map<string, number>();
  /** Cases by what was called (an RPC, a mutation) and outcome. */
  readonly detail = new Map<string, number>();
  cases = 0;

  constructor(
    readonly family: string,
    readonly seed: number,
  ) {}

  /** Counts one case. */
  count(outcome: string, what?: string): void {
    this.cases++;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (what !== undefined) this.detail.set(`${what} ${outcome}`, (this.detail.get(`${what} ${outcome}`) ?? 0) + 1);
  }

  /** "family: N cases (seed S): A 12, B 3", outcomes most frequent first, then the detail lines. */
  summary(): string {
    const line = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`);
    const detail = [...this.detail].sort((a, b) => a[0].localeCompare(b[0])).map(([name, n]) => `  ${name} ${n}`);
    return [`${this.family}: ${this.cases} cases (seed ${this.seed}): ${line(this.outcomes).join(', ')}`, ...detail].join('\n');
  }
}

export class FuzzFailure extends Error {
  constructor(family: string, seed: number, index: number, input: string, why: string) {
    const shown = input.length > 2000 ? `${input.slice(0, 2000)}... (${input.length} chars)` : input;
    super(`${family}: seed ${seed} case ${index}: ${why}\n  input: ${shown}\n  replay: FUZZ_SEED=${seed} FUZZ_CASE=${index}`);
    this.name = 'FuzzFailure';
  }
}

/** The case indices to run: all `count` of them, or just FUZZ_CASE when replaying one. */
export function caseIndices(count: number): number[] {
  const only = process.env['FUZZ_CASE'];
  if (only !== undefined && only !== '') return [Number(only)];
  return Array.from({ length: count }, (_, i) => i);
}

/** Runs `run` for each index, `concurrency` at a time; a slow case holds up only its own slot. */
export async function runPool(indices: number[], concurrency: number, run: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < indices.length) await run(indices[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, indices.length) }, worker));
}
