// Binds a node server (http, https or plain net) to a config's socket_address
// and answers the address it listens on (the real port when the config asked
// for 0). Bad addresses and busy ports are errors naming the config field.
import type { Server } from 'node:net';
import { parseSocketAddress } from '../config/schema-servers.js';
import { NcacheError } from '../util/errors.js';

export function listenOn(server: Server, socketAddress: string, field: string): Promise<string> {
  const parsed = parseSocketAddress(socketAddress);
  if (typeof parsed === 'string') return Promise.reject(new NcacheError('INVALID_ARGUMENT', `${field}: ${parsed}`));
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is already in use (is another ncache or server running on that port?)' : err.message;
      reject(new NcacheError('UNAVAILABLE', `${field}: cannot listen on ${socketAddress}: ${why}`));
    };
    server.once('error', onError);
    server.listen(parsed.port, parsed.host, () => {
      server.off('error', onError);
      const bound = server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : parsed.port;
      resolve(parsed.host.includes(':') ? `[${parsed.host}]:${port}` : `${parsed.host}:${port}`);
    });
  });
}
