// `ncache stats --watch` on a terminal: an ink view that asks the daemon for
// its numbers every interval and redraws in place (the same tables as the
// plain-text output, from stats-model.ts). q or Ctrl-C quits. With NO_COLOR
// set it draws without colour or bold.
import { Box, Text, render, useApp, useInput } from 'ink';
import { useEffect, useState } from 'react';
import type { StatsResult } from '../../daemon/control/stats.js';
import { errorMessage } from '../../util/errors.js';
import { alignTable, buildStatsModel } from './model.js';

export interface StatsViewOptions {
  readonly intervalMs: number;
  readonly fetch: () => Promise<StatsResult>;
  readonly noColor: boolean;
}

interface ViewState {
  readonly current?: StatsResult;
  readonly previous?: StatsResult;
  readonly error?: string;
  readonly refreshes: number;
}

function StatsApp({ intervalMs, fetch, noColor }: StatsViewOptions) {
  const [state, setState] = useState<ViewState>({ refreshes: 0 });
  const { exit } = useApp();
  useInput(
    (input, key) => {
      if (input === 'q' || (key.ctrl && input === 'c')) exit();
    },
    // Without a terminal on stdin there are no keys to read (Ctrl-C still ends the process).
    { isActive: process.stdin.isTTY === true },
  );
  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      try {
        const next = await fetch();
        if (!stopped) setState((s) => ({ current: next, previous: s.current, refreshes: s.refreshes + 1 }));
      } catch (err) {
        if (!stopped) setState((s) => ({ ...s, error: errorMessage(err) }));
      }
      if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [fetch, intervalMs]);

  const color = (c: string) => (noColor ? undefined : c);
  const footer = `refreshing every ${intervalMs / 1000}s · q to quit`;
  if (state.current === undefined) {
    return (
      <Box flexDirection="column">
        <Text>{state.error !== undefined ? `ncache stats: ${state.error}` : 'asking the daemon…'}</Text>
        <Text dimColor={!noColor}>{footer}</Text>
      </Box>
    );
  }
  const model = buildStatsModel(state.current, state.previous);
  return (
    <Box flexDirection="column">
      <Text bold={!noColor}>{model.header}</Text>
      {model.tables.map((table) => {
        const [head, ...rows] = alignTable(table);
        return (
          <Box key={table.title} flexDirection="column" marginTop={1}>
            <Text bold={!noColor} color={color('cyan')}>
              {table.title}
            </Text>
            <Text dimColor={!noColor}>{`  ${head}`}</Text>
            {rows.map((line, i) => (
              <Text key={i}>{`  ${line}`}</Text>
            ))}
          </Box>
        );
      })}
      <Box marginTop={1}>
        <Text dimColor={!noColor}>{footer}</Text>
        {state.error !== undefined ? <Text color={color('red')}>{`  (last refresh failed: ${state.error})`}</Text> : null}
      </Box>
    </Box>
  );
}

/** Runs the live view until the user quits. */
export async function runStatsView(opts: StatsViewOptions): Promise<void> {
  const app = render(<StatsApp {...opts} />, { exitOnCtrlC: true });
  await app.waitUntilExit();
}
