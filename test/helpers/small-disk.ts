// A small tmpfs for disk-full tests, made the first way this machine allows:
// 1. `mount -t tmpfs` here (root with CAP_SYS_ADMIN: this sandbox and CI);
// 2. otherwise inside the daemon's own user + mount namespace: the daemon is
//    started through `unshare -Urm sh -c 'mount ... && exec node ...'`, the
//    mount lives as long as the daemon, and the test reaches its files
//    through /proc/<daemon pid>/root.
// Neither working is an error naming both attempts, never a skip: CI must not
// go green without having filled a disk.
import { execFile } from 'node:child_process';
import { openSync, closeSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallDisk {
  readonly how: 'mount' | 'unshare';
  /** The mount point, as the daemon sees it. */
  readonly dir: string;
  /** For DaemonProcess.start: starts the daemon inside the namespace that holds the mount (undefined when mounted here). */
  readonly launcher: readonly string[] | undefined;
  /** A path under `dir` as this process reaches it while the daemon `pid` runs. */
  local(path: string, pid: number): string;
  /** Unmounts (mount) or nothing (unshare: the mount went with the daemon). */
  release(): Promise<void>;
}

const tmpfsOptions = (bytes: number) => `size=${bytes},mode=0755`;

async function failure(cmd: string[]): Promise<string | undefined> {
  try {
    await run(cmd[0]!, cmd.slice(1));
    return undefined;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return `\`${cmd.join(' ')}\`: ${(e.stderr ?? '').trim() || e.message}`;
  }
}

/** A tmpfs of `bytes` at `dir` (an existing empty directory), by the first method that works here. */
export async function smallDisk(dir: string, bytes: number, prefer?: 'unshare'): Promise<SmallDisk> {
  const mountCmd = ['mount', '-t', 'tmpfs', '-o', tmpfsOptions(bytes), 'tmpfs', dir];
  const mountFailed = prefer === 'unshare' ? 'not tried (unshare preferred)' : await failure(mountCmd);
  if (mountFailed === undefined) {
    return {
      how: 'mount',
      dir,
      launcher: undefined,
      local: (path) => path,
      release: async () => {
        await run('umount', ['-l', dir]);
      },
    };
  }
  // $1 is the mount point; the daemon's command line follows it.
  const inNamespace = (tail: string[]) => [
    'unshare',
    '-Urm',
    'sh',
    '-c',
    `mount -t tmpfs -o ${tmpfsOptions(bytes)} tmpfs "$1" && shift && exec "$@"`,
    'sh',
    dir,
    ...tail,
  ];
  const unshareFailed = await failure(inNamespace(['true']));
  if (unshareFailed === undefined) {
    return {
      how: 'unshare',
      dir,
      launcher: inNamespace([]),
      local: (path, pid) => `/proc/${pid}/root${path}`,
      release: async () => {},
    };
  }
  throw new Error(
    `cannot make a small tmpfs for the disk-full test; tried:\n  ${mountFailed}\n  ${unshareFailed}\n` +
      'run as root (CAP_SYS_ADMIN) or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)',
  );
}

/** Writes zeros to a new file at `path` until the disk is full; returns the bytes it holds. */
export function fillDisk(path: string): number {
  const fd = openSync(path, 'wx');
  const block = Buffer.alloc(64 * 1024);
  let total = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = writeSync(fd, block);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return total;
        throw err;
      }
      total += n;
      // A short write means the last page went; the next one fails.
    }
  } finally {
    closeSync(fd);
  }
}
