// The control methods the daemon answers, by name: one line per method, each
// a handler typed by api.ts behind its params parser (params.ts).
import type { ControlMethodName } from './api.js';
import { gcMethod } from './gc-method.js';
import { getMethod } from './get.js';
import { lsMethod } from './ls.js';
import { opsMethod } from './ops.js';
import { PARAM_PARSERS } from './params.js';
import { shutdownMethod } from './shutdown.js';
import { statsMethod } from './stats.js';
import { statusMethod } from './status.js';
import type { ControlHandler, ControlMethod } from './types.js';
import { upstreamsMethod } from './upstream-uses.js';
import { verifyMethod } from './verify-method.js';

export const CONTROL_METHODS: { readonly [M in ControlMethodName]: ControlMethod } = {
  status: parsed('status', statusMethod),
  shutdown: parsed('shutdown', shutdownMethod),
  stats: parsed('stats', statsMethod),
  ls: parsed('ls', lsMethod),
  get: parsed('get', getMethod),
  gc: parsed('gc', gcMethod),
  verify: parsed('verify', verifyMethod),
  ops: parsed('ops', opsMethod),
  upstreams: parsed('upstreams', upstreamsMethod),
};

/** The handler as the server runs it: raw params are parsed before it sees them. */
function parsed<M extends ControlMethodName>(method: M, handler: ControlHandler<M>): ControlMethod {
  const parse = PARAM_PARSERS[method];
  return (raw, ctx, out) => handler(parse(raw), ctx, out);
}
