// The configs users actually run, for tests that need "the real thing": the
// built-in default (templates/local.json5) and what `ncache init --aws` writes
// (templates/aws.json5), each with its listener moved to a free port. Store
// paths stay ${NCACHE_CACHE_DIR}/... unless a cache dir is given.
import { readFileSync } from 'node:fs';
import { type FastTier, renderAwsConfig } from '../../src/commands/init/aws.js';
import { defaultTemplatePath } from '../../src/config/defaults.js';
import { closedPort } from './ports.js';

const TEMPLATE_LISTENER = 'socket_address: "127.0.0.1:50051"';

function onFreePort(text: string, cacheDir: string | undefined): string {
  if (!text.includes(TEMPLATE_LISTENER)) throw new Error(`the template no longer listens with ${TEMPLATE_LISTENER}`);
  const moved = text.replace(TEMPLATE_LISTENER, 'socket_address: "127.0.0.1:0"');
  return cacheDir === undefined ? moved : moved.replaceAll('${NCACHE_CACHE_DIR}', cacheDir);
}

/** templates/local.json5: verify > filesystem CAS, completeness_checking > filesystem AC. */
export function localTemplateConfig(cacheDir?: string): string {
  return onFreePort(readFileSync(defaultTemplatePath(), 'utf8'), cacheDir);
}

/**
 * `ncache init --aws --endpoint <endpoint>` (with `--memory-tier <size>` when tier is memory) for one bucket and prefix;
 * without an endpoint, the daemon finds S3 as a user's would (AWS_ENDPOINT_URL_S3, else AWS).
 */
export function awsTemplateConfig(opts: { endpoint?: string; bucket: string; prefix: string; tier: FastTier; cacheDir?: string }): string {
  const target = { bucket: opts.bucket, prefix: opts.prefix, region: 'us-east-1', ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }) };
  return onFreePort(renderAwsConfig(target, false, opts.tier), opts.cacheDir);
}

/**
 * A config `ncache init --exec` or `--aws --exec` wrote, on free ports: the
 * main listener on :0, the worker_api listener and the worker's endpoint
 * that names it moved together to a port nothing listens on yet.
 */
export async function execConfigOnFreePorts(text: string): Promise<string> {
  const workerApi = `127.0.0.1:${await closedPort()}`;
  for (const needle of [TEMPLATE_LISTENER, '127.0.0.1:50061']) {
    if (!text.includes(needle)) throw new Error(`the exec template no longer has ${needle}`);
  }
  return text.replace(TEMPLATE_LISTENER, 'socket_address: "127.0.0.1:0"').replaceAll('127.0.0.1:50061', workerApi);
}
