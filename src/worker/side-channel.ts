// NativeLink's side channel: an entrypoint that handles timeouts itself
// (timeout_handled_externally) writes JSON such as {"failure": "timeout"} to
// the file named by a `side_channel_file` environment variable; the worker
// reads it after the command ends and reports the run as timed out.
import { readFile } from 'node:fs/promises';

const MAX_SIDE_CHANNEL_BYTES = 64 * 1024;

/** True when the side channel file says the entrypoint stopped the command for its timeout. */
export async function sideChannelReportsTimeout(path: string): Promise<boolean> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_SIDE_CHANNEL_BYTES) return false;
    text = bytes.toString('utf8');
  } catch {
    return false;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && (parsed as { failure?: unknown }).failure === 'timeout';
  } catch {
    return false;
  }
}
