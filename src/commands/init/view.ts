// `ncache init` for people: what was written, the bucket check's steps, and
// how to start the daemon (--json prints the results as they are).
import type { AwsInitResult } from './aws.js';
import type { RemoteInitResult } from './remote.js';
import type { ExecutionInit, InitResult } from './run.js';

export function formatInit(result: InitResult): string {
  const wrote = `${result.replaced ? 'Replaced' : 'Wrote'} ${result.path}\n`;
  if (result.execution === undefined) return `${wrote}Start the daemon with: ncache serve --config ${result.path}\n`;
  return wrote + formatExecution(result.execution) + `Start the daemon with: ncache start --config ${result.path}\n`;
}

/** What runs actions, and the .bazelrc lines that send them there. */
export function formatExecution(e: ExecutionInit): string {
  const properties = Object.entries(e.platformProperties)
    .map(([name, values]) => `${name}=${values.join(',')}`)
    .join(' ');
  return (
    [
      `Actions run on this machine: scheduler ${e.scheduler}, worker "${e.worker}" (${properties})`,
      `  work directory ${e.workDirectory}`,
      'Add to .bazelrc:',
      ...e.bazelrcLines.map((l) => `  ${l}`),
    ].join('\n') + '\n'
  );
}

/** `init --remote`: the cluster it forwards to, what runs where, and the .bazelrc lines. */
export function formatRemoteInit(result: RemoteInitResult): string {
  const u = result.upstream;
  return (
    [
      `${result.replaced ? 'Replaced' : 'Wrote'} ${result.path}`,
      `Upstream cluster ${u.address}, instance ${JSON.stringify(u.instanceName)}` + (u.tokenFile !== null ? `, bearer token from ${u.tokenFile}` : ''),
      '  blobs and action results: this machine first, then the cluster (uploads go to both)',
      '  actions: forwarded to the cluster\'s scheduler; none run on this machine',
      'Add to .bazelrc:',
      ...result.bazelrcLines.map((l) => `  ${l}`),
      `Start the daemon with: ncache start --config ${result.path}`,
      'Then `ncache status` shows whether the cluster answers and what it supports.',
    ].join('\n') + '\n'
  );
}

/** The files written and the bucket check's steps (stdout). */
export function formatAwsInit(result: AwsInitResult): string {
  const { s3, check } = result;
  const lines = [
    `${result.replaced ? 'Replaced' : 'Wrote'} ${result.path}`,
    `  S3 bucket ${s3.bucket}, region ${s3.region}, prefix "${s3.prefix}"${s3.endpoint !== null ? `, endpoint ${s3.endpoint}` : ''}`,
    `IAM policy the credentials need on the bucket: ${result.iamPolicyPath}`,
    `Lifecycle rules you can apply to the bucket: ${result.lifecyclePath}`,
    `  aws s3api put-bucket-lifecycle-configuration --bucket ${s3.bucket} --lifecycle-configuration file://${result.lifecyclePath}` +
      (s3.endpoint !== null ? ` --endpoint-url ${s3.endpoint}` : ''),
  ];
  if (check !== null) {
    lines.push(`Checked s3://${s3.bucket}/${s3.prefix} at ${check.endpoint}:`);
    for (const step of check.steps) {
      lines.push(`  ${step.status.padEnd(7)} ${step.operation.padEnd(13)} ${step.message ?? ''}`.trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}

/** With --listen: the tokens file and the lines teammates need, token included (stdout only; --json leaves it out). */
export function formatTeamBazelrc(result: AwsInitResult, bazelrc: string[]): string {
  return (
    [
      `Bearer tokens for ${result.listen}: ${result.tokensFile} (0600; one per line, "read" after a token for read-only)`,
      'For each teammate, in a user-private bazelrc (e.g. ~/.bazelrc, not one checked into the repository):',
      ...bazelrc.map((l) => `  ${l}`),
    ].join('\n') + '\n'
  );
}

/** Why the bucket check failed and what to do (stderr); the files are written regardless. */
export function formatAwsCheckFailure(result: AwsInitResult): string {
  const { s3, check } = result;
  const steps = check?.steps ?? [];
  const missing = steps.flatMap((s) => (s.missingPermission !== undefined ? [s.missingPermission] : []));
  const problems = steps.filter((s) => s.status === 'failed').map((s) => `  ${s.operation}: ${s.message}`);
  return (
    [
      `ncache: the bucket check failed; the config was written anyway (${result.path}):`,
      ...problems,
      ...(missing.length > 0 ? [`  missing IAM permissions: ${missing.join(', ')} (see ${result.iamPolicyPath})`] : []),
      ...(check?.leftBehind ? [`  the probe object s3://${s3.bucket}/${check.key} could not be deleted; remove it by hand`] : []),
      'Fix the above, then check again with the same command plus --force.',
    ].join('\n') + '\n'
  );
}

/** The last line once the bucket is fine (or not checked): how to start the daemon. */
export function formatAwsNextStep(result: AwsInitResult, pathGiven: boolean): string {
  const serve = pathGiven ? `ncache serve --config ${result.path}` : 'ncache serve';
  return `${result.check === null ? 'Bucket not checked (--no-check). ' : ''}Start the daemon with: ${serve}\n`;
}
