// `ncache validate [file]`: load a config and summarize it, or throw a
// ConfigError listing every problem with its field path.
import { collectWarnings, summarizeConfig } from '../../config/schema.js';
import { resolveConfig } from '../config-source.js';

export interface ValidateResult {
  source: string;
  summary: string;
  warnings: string[];
}

export async function validate(opts: { path?: string; env?: NodeJS.ProcessEnv }): Promise<ValidateResult> {
  const config = await resolveConfig(opts.path, opts.env ?? process.env);
  return { source: config.source, summary: summarizeConfig(config), warnings: collectWarnings(config) };
}
