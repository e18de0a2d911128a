// The daemon the gRPC fuzz families aim at: the built CLI's `serve` as a child
// process, serving every service ncache has (CAS, AC, ByteStream,
// Capabilities, Execution, Health) on loopback under instance "main", with
// stores in a temp dir the caller can inspect ("nothing was stored").
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import JSON5 from 'json5';
import { DaemonProcess, testConfigText } from '../../helpers/daemon-process.js';

export const FUZZ_INSTANCE = 'main';

export interface FuzzDaemon {
  readonly daemon: DaemonProcess;
  readonly dataDir: string;
  stop(): Promise<void>;
}

interface ServerConfig {
  listener: { http: Record<string, unknown> };
  services: Record<string, unknown>;
}

/**
 * A short idle_timeout: HTTP/2 lets the server wait for the rest of a frame,
 * so a client that leaves one half-sent and goes away holds a connection
 * until the listener's idle timeout closes it (15 min by default); the fuzz
 * tests check that every such connection is let go, so they shorten it.
 */
const FUZZ_IDLE_TIMEOUT = '2s';

export async function startFuzzDaemon(): Promise<FuzzDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'ncache-fuzz-'));
  const dataDir = join(dir, 'data');
  const config = JSON5.parse<{ servers: ServerConfig[]; schedulers?: unknown[] }>(
    testConfigText({ dataDir, instanceName: FUZZ_INSTANCE }),
  );
  config.schedulers = [{ name: 'MAIN', simple: {} }];
  for (const server of config.servers) {
    server.listener.http['limits'] = { idle_timeout: FUZZ_IDLE_TIMEOUT };
    server.services['execution'] = [{ instance_name: FUZZ_INSTANCE, cas_store: 'CAS', scheduler: 'MAIN' }];
    server.services['capabilities'] = [{ instance_name: FUZZ_INSTANCE, remote_execution: { scheduler: 'MAIN' } }];
  }
  const configPath = join(dir, 'config.json5');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  let daemon: DaemonProcess;
  try {
    daemon = await DaemonProcess.start({ configPath, env: { NCACHE_STATE_DIR: join(dir, 'state') } });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    daemon,
    dataDir,
    async stop() {
      await daemon.stop({ timeoutMs: 10_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir` (relative paths), for "nothing was stored" checks. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

/** The daemon's resident set size in bytes, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** How many file descriptors the daemon holds open (sockets included), from /proc (Linux). */
export async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}
