// A logger that keeps every line ("<level> <message>"), for tests that assert
// on what the code under test reports.
import type { Logger } from '../../src/util/logger.js';

export function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string) => lines.push(`${level} ${msg}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
