// From an ExecuteRequest to the JobRequest the scheduler queues: the Action
// and Command read from the instance's CAS and checked, so a bad request is
// refused with a message naming what is wrong before anything is queued.
import type { JobRequest } from '../scheduler/job.js';
import { actionPlatform } from '../scheduler/platform.js';
import { type Action, ActionCodec, type Command, CommandCodec, type ExecuteRequest, type Status } from '../proto/reapi.js';
import { type StoreDriver, readBufferIfPresent } from '../stores/store.js';
import { type Digest, formatDigest, isEmptyDigest } from '../util/digest.js';
import { errorMessage, invalidArgument } from '../util/errors.js';
import { requireDigest } from './call-utils.js';
import { MAX_METADATA_BLOB_BYTES } from './limits.js';
import { missingBlobsStatus } from '../worker/missing-blobs.js';

/** A request ready to queue, or the blobs it names that the CAS lacks (Bazel uploads them and retries). */
export type PreparedExecution =
  | { readonly kind: 'job'; readonly request: JobRequest }
  | { readonly kind: 'missing'; readonly actionDigest: Digest; readonly status: Status };

/**
 * Reads and checks what `req` names. Throws INVALID_ARGUMENT for a request
 * that can never run as sent; a missing Action, Command or input root is not
 * an error here but a MISSING answer, since the client can fix it by uploading.
 */
export async function prepareExecution(req: ExecuteRequest, cas: StoreDriver): Promise<PreparedExecution> {
  const actionDigest = requireDigest(req.actionDigest, 'action_digest');
  const actionBytes = await readBufferIfPresent(cas, actionDigest, MAX_METADATA_BLOB_BYTES);
  if (actionBytes === undefined) {
    return missing([{ digest: actionDigest, what: `the Action ${formatDigest(actionDigest)}` }], actionDigest);
  }
  const action = decodeAs('Action', actionDigest, () => ActionCodec.decode(actionBytes));
  const commandDigest = requireDigest(action.commandDigest, `Action ${formatDigest(actionDigest)}: command_digest`);
  const inputRootDigest = requireDigest(action.inputRootDigest, `Action ${formatDigest(actionDigest)}: input_root_digest`);
  const timeoutS = actionTimeout(action, actionDigest);

  const commandBytes = await readBufferIfPresent(cas, commandDigest, MAX_METADATA_BLOB_BYTES);
  // The input root is only looked for here; the worker reads the tree (and reports what else is missing).
  // The empty blob (an empty input root) is always present, whatever the store says.
  const [rootSize] = isEmptyDigest(inputRootDigest) ? [0] : await cas.has([inputRootDigest]);
  const absent: { digest: Digest; what: string }[] = [];
  if (commandBytes === undefined) absent.push({ digest: commandDigest, what: `the Command ${formatDigest(commandDigest)}` });
  if (rootSize === undefined) absent.push({ digest: inputRootDigest, what: `the input root Directory ${formatDigest(inputRootDigest)}` });
  if (absent.length > 0 || commandBytes === undefined) return missing(absent, actionDigest);

  const command = decodeAs('Command', commandDigest, () => CommandCodec.decode(commandBytes));
  checkCommand(command, commandDigest);
  return {
    kind: 'job',
    request: {
      instanceName: req.instanceName,
      actionDigest,
      action,
      command,
      platform: actionPlatform(action, command),
      timeoutS,
      priority: req.executionPolicy?.priority ?? 0,
      inlineStdout: req.inlineStdout,
      inlineStderr: req.inlineStderr,
      inlineOutputFiles: req.inlineOutputFiles,
    },
  };
}

function missing(blobs: { digest: Digest; what: string }[], actionDigest: Digest): PreparedExecution {
  const names = blobs.map((b) => b.what).join(', ');
  const status = missingBlobsStatus(
    blobs.map((b) => b.digest),
    `cannot run action ${formatDigest(actionDigest)}: not in the CAS: ${names}`,
  );
  return { kind: 'missing', actionDigest, status };
}

function decodeAs<T>(what: string, digest: Digest, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw invalidArgument(`the blob ${formatDigest(digest)} is not a valid ${what} message (${errorMessage(err)})`);
  }
}

/** Action.timeout in seconds; 0 when unset (the worker's default applies). */
function actionTimeout(action: Action, digest: Digest): number {
  const t = action.timeout;
  if (t === null) return 0;
  if (t.seconds < 0 || t.nanos < 0 || t.nanos >= 1e9) {
    throw invalidArgument(`Action ${formatDigest(digest)}: timeout must be a non-negative duration, got ${t.seconds}s ${t.nanos}ns`);
  }
  return t.seconds + t.nanos / 1e9;
}

/** What REAPI requires of a Command before a worker may run it: paths stay inside the input root. */
function checkCommand(command: Command, digest: Digest): void {
  const at = `Command ${formatDigest(digest)}`;
  if (command.arguments.length === 0 || command.arguments[0] === '') throw invalidArgument(`${at}: arguments is empty; nothing to run`);
  const wd = command.workingDirectory;
  if (wd !== '') checkRelativePath(wd, `${at}: working_directory`);
  const outputs: [string, readonly string[]][] = [
    ['output_files', command.outputFiles],
    ['output_directories', command.outputDirectories],
    ['output_paths', command.outputPaths],
  ];
  for (const [field, paths] of outputs) {
    paths.forEach((path, i) => checkRelativePath(path, `${at}: ${field}[${i}]`, field === 'output_directories'));
  }
  command.environmentVariables.forEach((v, i) => {
    if (v.name === '' || v.name.includes('=')) throw invalidArgument(`${at}: environment_variables[${i}]: name ${JSON.stringify(v.name)} is not a variable name`);
  });
}

/**
 * A path relative to the input root (or working directory) that cannot leave
 * it: not absolute, no "." or ".." segment, no empty segment. An output
 * directory may be "" (the whole working directory), which REAPI allows.
 */
function checkRelativePath(path: string, field: string, mayBeEmpty = false): void {
  if (path === '' && mayBeEmpty) return;
  const problem =
    path === ''
      ? 'is empty'
      : path.startsWith('/')
        ? 'is absolute; it must be relative to the input root'
        : path.includes('\0')
          ? 'contains a NUL character'
          : path.split('/').some((s) => s === '..')
            ? 'contains ".."; it must stay inside the input root'
            : path.split('/').some((s) => s === '' || s === '.')
              ? 'has an empty or "." segment (a double, leading or trailing slash)'
              : undefined;
  if (problem !== undefined) throw invalidArgument(`${field}: ${JSON.stringify(path)} ${problem}`);
}
