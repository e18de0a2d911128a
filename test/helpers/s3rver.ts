// A real S3 HTTP endpoint for tests: s3rver in a child process on
// 127.0.0.1:0 over a temp directory. Readiness is the port line the runner
// prints (never a sleep); stop() kills the process and removes the directory.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface S3rverHandle {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  /** The first configured bucket. */
  readonly bucket: string;
  /** Where s3rver keeps its files (objects, in-progress multipart uploads). */
  readonly dir: string;
  stop(): Promise<void>;
}

/** s3rver accepts only its own fixed key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** An env for createS3Client that points at s3rver with its credentials. */
export function s3rverEnv(endpoint?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
  if (endpoint !== undefined) env.AWS_ENDPOINT_URL_S3 = endpoint;
  return env;
}

const HERE = dirname(fileURLToPath(import.meta.url));
// Run from dist/test/helpers (the bench), the runner is still in the source
// tree: tsc does not copy .mjs files.
const RUNNER =
  [join(HERE, 's3rver-runner.mjs'), join(HERE, '..', '..', '..', 'test', 'helpers', 's3rver-runner.mjs')].find((p) => existsSync(p)) ??
  join(HERE, 's3rver-runner.mjs');

export async function startS3rver(opts: { buckets?: string[] } = {}): Promise<S3rverHandle> {
  const buckets = opts.buckets ?? ['ncache-test'];
  const dir = await mkdtemp(join(tmpdir(), 'ncache-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', RUNNER, JSON.stringify({ directory: dir, buckets })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        try {
          resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
        } catch {
          reject(new Error(`s3rver runner printed an unexpected line: ${out.slice(0, nl)}`));
        }
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`s3rver exited (code ${code}) before listening: ${stderr}`)));
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: buckets[0]!,
    dir,
    stop: () => {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
