// A config that fails to load reports every problem at once, each with the
// dot-path of the field it concerns, so a user fixes the file in one pass.
import { NcacheError } from '../util/errors.js';

export interface ConfigIssue {
  /** Dot-path of the field ("stores[0].verify.backend.dedup.min_size"), or "file:line:col" for syntax errors. */
  path: string;
  message: string;
}

export class ConfigError extends NcacheError {
  readonly source: string;
  readonly issues: ConfigIssue[];

  constructor(source: string, issues: ConfigIssue[]) {
    super('INVALID_ARGUMENT', formatIssues(source, issues));
    this.name = 'ConfigError';
    this.source = source;
    this.issues = issues;
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

function formatIssues(source: string, issues: ConfigIssue[]): string {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return [`invalid config ${source} (${count}):`, ...issues.map((i) => `  ${formatIssue(i)}`)].join('\n');
}
