// What each gRPC method needs from a caller on a listener with `auth`. Reads
// are listed; every other method (the writes, and any method added later)
// needs a write token, so a new service is closed until someone opens it here.
import { SERVICE_NAMES } from '../../proto/reapi.js';

/** "open": no token (health probes); "read": a read or write token; "write": a write token. */
export type MethodAccess = 'open' | 'read' | 'write';

const method = (service: keyof typeof SERVICE_NAMES, name: string) => `/${SERVICE_NAMES[service]}/${name}`;

const ACCESS = new Map<string, MethodAccess>([
  // Load balancers and orchestrators probe health without credentials; it tells them nothing else.
  [method('health', 'Check'), 'open'],
  [method('health', 'Watch'), 'open'],
  [method('capabilities', 'GetCapabilities'), 'read'],
  // FindMissingBlobs only says what is present, which anyone who may read can learn anyway.
  [method('cas', 'FindMissingBlobs'), 'read'],
  [method('cas', 'BatchReadBlobs'), 'read'],
  [method('cas', 'GetTree'), 'read'],
  [method('ac', 'GetActionResult'), 'read'],
  [method('bytestream', 'Read'), 'read'],
  [method('bytestream', 'QueryWriteStatus'), 'read'],
  // Execute and WaitExecution are writes: they run actions, and a watcher keeps
  // an operation (and its worker slot) alive past client_action_timeout_s.
]);

/** `path` as gRPC sends it in `:path`: "/package.Service/Method". */
export function methodAccess(path: string): MethodAccess {
  return ACCESS.get(path) ?? 'write';
}

/** "/google.bytestream.ByteStream/Write" -> "ByteStream.Write", for messages. */
export function shortMethodName(path: string): string {
  const [service = '', name = ''] = path.replace(/^\//, '').split('/');
  return `${service.slice(service.lastIndexOf('.') + 1)}.${name}`;
}
