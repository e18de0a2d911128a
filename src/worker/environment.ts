// The environment an action runs with: nothing inherited from the daemon,
// only the worker's additional_environment (NativeLink's sources) and the
// Command's variables, the Command's winning when both name one (as in
// NativeLink, which sets them last).
import type { EnvironmentSource } from '../config/types.js';
import type { Command } from '../proto/reapi.js';
import type { PlatformProperties } from '../scheduler/job.js';

export interface EnvironmentContext {
  readonly platform: PlatformProperties;
  readonly timeoutMs: number;
  /** The action's directory (the parent of its input root). */
  readonly actionDirectory: string;
  /** A file the entrypoint may write to tell the worker about the run (see side-channel.ts). */
  readonly sideChannelFile: string;
}

export function actionEnvironment(
  command: Pick<Command, 'environmentVariables'>,
  additional: Readonly<Record<string, EnvironmentSource>> | undefined,
  ctx: EnvironmentContext,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, source] of Object.entries(additional ?? {})) env[name] = sourceValue(source, ctx);
  for (const { name, value } of command.environmentVariables) env[name] = value;
  return env;
}

function sourceValue(source: EnvironmentSource, ctx: EnvironmentContext): string {
  if (source === 'timeout_millis') return String(ctx.timeoutMs);
  if (source === 'action_directory') return ctx.actionDirectory;
  if (source === 'side_channel_file') return ctx.sideChannelFile;
  if ('value' in source) return source.value;
  return ctx.platform[source.property]?.[0] ?? '';
}

/** Whether an additional_environment entry asks for the side channel file. */
export function usesSideChannel(additional: Readonly<Record<string, EnvironmentSource>> | undefined): boolean {
  return Object.values(additional ?? {}).includes('side_channel_file');
}
