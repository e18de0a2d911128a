// What every command's view needs to know about where its output goes:
// JSON on stdout, and whether colour or a live view fits the terminal.

export function printJson(data: unknown): void {
  process.stdout.write(JSON.stringify(data, null, 2) + '\n');
}

/** NO_COLOR (https://no-color.org): set and not empty means no ANSI colour. */
export function noColorWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.NO_COLOR;
  return v !== undefined && v !== '';
}

/** Colour in reports: only on a terminal, and never with NO_COLOR. */
export function colorWanted(): boolean {
  return process.stdout.isTTY === true && !noColorWanted();
}

/** How a report is drawn: colour only when `colorWanted()`. */
export interface ViewOptions {
  color: boolean;
}

/** Wraps `text` in an ANSI colour when `on`. */
export function paint(on: boolean, code: number, text: string): string {
  return on ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/**
 * ink decides by itself (package is-in-ci) that it runs in CI, and then draws
 * only the last frame: a CI variable set at all (even empty), CONTINUOUS_INTEGRATION
 * or any CI_* variable. A live view needs ink to agree, so we ask the same.
 */
export function inkSeesCi(env: NodeJS.ProcessEnv): boolean {
  if (env.CI === '0' || env.CI === 'false') return false;
  return 'CI' in env || 'CONTINUOUS_INTEGRATION' in env || Object.keys(env).some((k) => k.startsWith('CI_'));
}
