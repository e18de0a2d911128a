// `ncache init --http PORT`: the default local config plus a second server
// speaking Bazel's HTTP cache protocol (listener.http_cache) on loopback,
// over the same CAS and AC. The block is appended to the template's servers
// list as text, so the comments of the rest of the file stay as they are.
import { UsageError } from '../exit.js';

/** The port --http was given, or a usage error naming it. */
export function parseHttpPort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) throw new UsageError(`--http: expected a port number (1-65535), got ${JSON.stringify(value)}`);
  return port;
}

const SERVERS_END = '\n  ],\n}\n';

/** `configText` (the local template) with an http_cache server on 127.0.0.1:`port` at the end of `servers`. */
export function withHttpCacheServer(configText: string, port: number): string {
  const at = configText.lastIndexOf(SERVERS_END);
  if (at === -1) throw new Error('the config template does not end with its servers list');
  const block = [
    '    {',
    "      // Bazel's HTTP/1.1 cache protocol over the same stores, for",
    `      // --remote_cache=http://127.0.0.1:${port} (see docs/configuration.md).`,
    '      name: "bazel-http",',
    '      listener: {',
    '        http_cache: {',
    `          socket_address: "127.0.0.1:${port}",`,
    '        },',
    '      },',
    '      services: {',
    '        cas: [{ instance_name: "", cas_store: "CAS" }],',
    '        ac: [{ instance_name: "", ac_store: "AC" }],',
    '      },',
    '    },',
  ].join('\n');
  return `${configText.slice(0, at)}\n${block}${configText.slice(at)}`;
}
