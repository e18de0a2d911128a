// What tests of Execute and WaitExecution watch a live operation stream with,
// and the gate that holds an action running until the test lets it finish
// (so nothing depends on timing).
import { ExecuteOperationMetadataCodec, type Operation } from '../../src/proto/reapi.js';
import { waitFor } from './wait-for.js';

const METADATA_TYPE = 'type.googleapis.com/build.bazel.remote.execution.v2.ExecuteOperationMetadata';

/** A shell command that waits for `gate` to exist (the test creates it), bounded so a broken test cannot leave it forever. */
export const waitForGate = (gate: string): string => `i=0; while [ ! -e ${gate} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`;

function stageOf(op: Operation): number {
  if (op.metadata?.typeUrl !== METADATA_TYPE) throw new Error(`unexpected metadata type ${op.metadata?.typeUrl}`);
  return ExecuteOperationMetadataCodec.decode(op.metadata.value).stage;
}

/** Collects a live Execute (or WaitExecution) stream: every operation, its end, a wait for a stage, and cancelling it. */
export function watchOperations(stream: NodeJS.EventEmitter & { cancel(): void }) {
  const ops: Operation[] = [];
  const ended = new Promise<Operation[]>((resolve, reject) => {
    stream.on('data', (op: Operation) => ops.push(op));
    stream.on('end', () => resolve(ops));
    stream.on('error', reject);
  });
  ended.catch(() => {});
  const stage = (wanted: number) => waitFor(() => ops.some((op) => stageOf(op) === wanted), { what: `stage ${wanted}` });
  return { ops, ended, stage, cancel: () => stream.cancel() };
}
