// An action's platform properties: as the execution service reads them from
// the Action and Command, and back as a REAPI Platform message (what a
// forwarding scheduler sends upstream after a property_modifier changed them).
import type { Action, Command, Platform } from '../proto/reapi.js';
import type { PlatformProperties } from './job.js';

/** Action.platform, else Command.platform (REAPI < 2.2 clients such as Bazel 4 send only the Command's); name -> values in order. */
export function actionPlatform(action: Action, command: Command): PlatformProperties {
  // An Action.platform set but empty says nothing: the Command's then applies.
  const platform = action.platform !== null && action.platform.properties.length > 0 ? action.platform : command.platform;
  const out: Record<string, string[]> = {};
  for (const { name, value } of platform?.properties ?? []) (out[name] ??= []).push(value);
  return out;
}

/** A Platform message, properties sorted by name then value as REAPI requires; null when there are none. */
export function platformMessage(properties: PlatformProperties): Platform | null {
  const list = Object.entries(properties).flatMap(([name, values]) => values.map((value) => ({ name, value })));
  if (list.length === 0) return null;
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return { properties: list };
}
