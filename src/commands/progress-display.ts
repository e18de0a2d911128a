// Progress of a long daemon-side job (gc, verify) on stderr: a cli-progress bar
// per phase on a terminal, a few plain lines otherwise (piped, or CI set), so
// logs stay readable. Never colour: the bar is drawn with plain characters,
// which also honours NO_COLOR.
import type { ProgressUpdate } from '../daemon/control/protocol.js';
import { formatBytes } from '../util/sizes.js';

export interface ProgressDisplay {
  update(p: ProgressUpdate): void;
  /** Ends the bar (or the last plain line); call before printing the result. */
  stop(): void;
}

/** Whether a live bar fits here: a terminal on stderr and no CI. */
export function liveProgressWanted(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.CI;
}

export async function progressDisplay(
  command: string,
  opts: { live: boolean; stream?: NodeJS.WriteStream },
): Promise<ProgressDisplay> {
  const stream = opts.stream ?? process.stderr;
  return opts.live ? liveDisplay(stream) : plainDisplay(command, stream);
}

function describe(p: ProgressUpdate): string {
  const count = p.total !== undefined ? `${p.done}/${p.total}` : `${p.done}`;
  const bytes = p.bytes !== undefined ? `, ${formatBytes(p.bytes)}${p.totalBytes !== undefined ? ` of ${formatBytes(p.totalBytes)}` : ''}` : '';
  return `${p.phase}: ${count}${bytes}`;
}

/** One line when a phase starts, at each quarter of it, and when it completes. */
function plainDisplay(command: string, stream: NodeJS.WriteStream): ProgressDisplay {
  let phase: string | undefined;
  let quarter = -1;
  let last: ProgressUpdate | undefined;
  let lastPrinted: ProgressUpdate | undefined;
  const print = (p: ProgressUpdate) => {
    stream.write(`${command}: ${describe(p)}\n`);
    lastPrinted = p;
  };
  return {
    update(p) {
      if (p.phase !== phase) {
        if (last !== undefined && last !== lastPrinted) print(last);
        phase = p.phase;
        quarter = -1;
      }
      last = p;
      if (p.total === undefined || p.total === 0) {
        if (quarter < 0) print(p);
        quarter = 0;
        return;
      }
      const q = Math.floor((4 * p.done) / p.total);
      if (q > quarter) {
        quarter = q;
        print(p);
      }
    },
    stop() {
      if (last !== undefined && last !== lastPrinted) print(last);
    },
  };
}

async function liveDisplay(stream: NodeJS.WriteStream): Promise<ProgressDisplay> {
  const { default: cliProgress } = await import('cli-progress');
  let bar: InstanceType<typeof cliProgress.SingleBar> | undefined;
  let phase: string | undefined;
  const payload = (p: ProgressUpdate) => ({
    phase: p.phase,
    bytesText: p.bytes !== undefined ? ` | ${formatBytes(p.bytes)}${p.totalBytes !== undefined ? ` / ${formatBytes(p.totalBytes)}` : ''}` : '',
  });
  return {
    update(p) {
      if (p.phase !== phase || bar === undefined) {
        bar?.stop();
        phase = p.phase;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: p.total !== undefined ? '{phase} [{bar}] {percentage}% | {value}/{total}{bytesText}' : '{phase} | {value}{bytesText}',
            barCompleteChar: '#',
            barIncompleteChar: '-',
            hideCursor: true,
            clearOnComplete: false,
            fps: 10,
          },
          cliProgress.Presets.legacy,
        );
        bar.start(p.total ?? 0, p.done, payload(p));
        return;
      }
      if (p.total !== undefined) bar.setTotal(p.total);
      bar.update(p.done, payload(p));
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

/** Runs a daemon job, showing its progress frames on stderr (a bar on a terminal, plain lines otherwise). */
export async function withProgress<T>(command: string, run: (onProgress: (p: ProgressUpdate) => void) => Promise<T>): Promise<T> {
  const display = await progressDisplay(command, { live: liveProgressWanted() });
  try {
    return await run((p) => display.update(p));
  } finally {
    display.stop();
  }
}
