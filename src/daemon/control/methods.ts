// The control methods the daemon answers, by name. One line per method.
import { gcMethod } from './gc-method.js';
import { getMethod } from './get.js';
import { lsMethod } from './ls.js';
import { shutdownMethod } from './shutdown.js';
import { statsMethod } from './stats.js';
import { statusMethod } from './status.js';
import type { ControlMethod } from './types.js';
import { verifyMethod } from './verify-method.js';

export const CONTROL_METHODS: Readonly<Record<string, ControlMethod>> = {
  status: statusMethod,
  shutdown: shutdownMethod,
  stats: statsMethod,
  ls: lsMethod,
  get: getMethod,
  gc: gcMethod,
  verify: verifyMethod,
};
