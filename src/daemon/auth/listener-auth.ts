// The door of a listener with `auth` (an ncache extension): a check every
// call on that listener passes before any handler runs. daemon.ts hands it
// to the listener's router itself (src/daemon/grpc-server/), so no service,
// present or added later, can be served around it. It reads `authorization: Bearer <token>`,
// matches the token in constant time against the tokens file, and refuses
// with UNAUTHENTICATED or PERMISSION_DENIED in a message that names the
// listener and the fix, never the token.
import { GrpcStatus, grpcStatusName } from '../../util/grpc-codes.js';
import type { IncomingHttpHeaders } from 'node:http2';
import { listenerKey, serverLabel } from '../../config/schema-servers.js';
import type { ListenerAuthSpec, ServerSpec } from '../../config/types.js';
import type { Clock } from '../../util/clock.js';
import { withContext } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { type MethodAccess, methodAccess, shortMethodName } from './method-access.js';
import { matchToken } from './token-match.js';
import { TokenSource } from './token-source.js';

export interface ListenerAuth {
  readonly spec: ListenerAuthSpec;
  readonly tokens: TokenSource;
  /** `servers[0] ("shared") on 0.0.0.0:50051`; asked when refusing, so it can name the port bound. */
  readonly listener: () => string;
}

export interface Refusal {
  readonly code: GrpcStatus;
  readonly details: string;
}

/** Why a call to `path` with these `authorization` values is refused, or undefined to let it in. */
export function checkCall(path: string, authorization: readonly string[], auth: ListenerAuth): Refusal | undefined {
  return checkAccess(methodAccess(path), shortMethodName(path), authorization, auth);
}

/**
 * The same decision for a request that needs `access`, named `what` in
 * messages ("ByteStream.Write", "PUT /cas/..."): gRPC calls and the
 * http_cache listener's requests share it.
 */
export function checkAccess(access: MethodAccess, what: string, authorization: readonly string[], auth: ListenerAuth): Refusal | undefined {
  if (access === 'open') return undefined;
  const where = auth.listener();
  const file = auth.spec.tokens_file;
  const header = authorization[0];
  if (header === undefined) {
    if (!auth.spec.allow_unauthenticated_reads) {
      return refuse(GrpcStatus.UNAUTHENTICATED, `${where} requires a bearer token: ${addHeader(`a token from ${file}`)}`);
    }
    if (access === 'read') return undefined;
    return refuse(
      GrpcStatus.PERMISSION_DENIED,
      `${where} lets calls without a token only read, and ${what} writes: ${addHeader(`a write token from ${file}`)}, ${readOnlyBuild}`,
    );
  }
  const token = bearerToken(header);
  if (token === undefined) {
    return refuse(GrpcStatus.UNAUTHENTICATED, `${where}: the authorization header is not "Bearer <token>": ${addHeader(`a token from ${file}`)}`);
  }
  const current = auth.tokens.current();
  if ('problem' in current) {
    return refuse(GrpcStatus.UNAVAILABLE, `${where} cannot check bearer tokens: its tokens file ${file} is unusable (the daemon's log says why)`);
  }
  const scope = matchToken(token, current.entries);
  if (scope === undefined) {
    return refuse(
      GrpcStatus.UNAUTHENTICATED,
      `${where} does not accept this bearer token (mistyped, or no longer in ${file}): ${addHeader(`a token listed in ${file}`)}`,
    );
  }
  if (access === 'write' && scope === 'read') {
    return refuse(
      GrpcStatus.PERMISSION_DENIED,
      `${where}: this bearer token is read-only ("read" in ${file}) and ${what} writes: put a write token in --remote_header, ${readOnlyBuild}`,
    );
  }
  return undefined;
}

const addHeader = (which: string) => `add --remote_header=authorization=Bearer <${which}> to your .bazelrc`;
const readOnlyBuild = 'or build with --remote_upload_local_results=false to only read';

const refuse = (code: GrpcStatus, details: string): Refusal => ({ code, details });

/** RFC 6750: `Bearer <token>`, the scheme in any case. */
function bearerToken(header: string): string | undefined {
  return /^\s*bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/** Decides one call from its path and headers: a refusal ends it with that status before any handler runs. */
export type Admission = (path: string, headers: IncomingHttpHeaders, peer: () => string) => Refusal | undefined;

/** Every call on the listener goes through checkCall before its handler sees it. */
export function listenerAdmission(auth: ListenerAuth, logger: Logger): Admission {
  return (path, headers, peer) => {
    const header = headers.authorization;
    const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
    const refusal = checkCall(path, values, auth);
    if (refusal !== undefined) logger.debug(`refused ${path} from ${peer()}: ${grpcStatusName(refusal.code)}`);
    return refusal;
  };
}

export interface ListenerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The "HOST:PORT" the listener is bound to, once it is. */
  readonly boundAddress: () => string | undefined;
}

/**
 * The door of servers[index] when its listener has `auth`, undefined
 * otherwise. Reads the tokens file now, so an unusable one stops the start.
 */
export function listenerDoor(spec: ServerSpec, index: number, deps: ListenerDeps): Admission | undefined {
  const auth = listenerAuth(spec, index, deps);
  return auth === undefined ? undefined : listenerAdmission(auth, deps.logger);
}

/** What checkCall/checkAccess need for servers[index], when its listener has `auth`. Reads the tokens file now. */
export function listenerAuth(spec: ServerSpec, index: number, deps: ListenerDeps): ListenerAuth | undefined {
  const authSpec = spec.listener.http.auth;
  if (authSpec === undefined) return undefined;
  let tokens: TokenSource;
  try {
    tokens = new TokenSource(authSpec.tokens_file, deps);
  } catch (err) {
    throw withContext(`servers[${index}].listener.${listenerKey(spec)}.auth.tokens_file`, err);
  }
  const name = serverLabel(spec, index);
  const listener = () => `${name} on ${deps.boundAddress() ?? spec.listener.http.socket_address}`;
  return { spec: authSpec, tokens, listener };
}
