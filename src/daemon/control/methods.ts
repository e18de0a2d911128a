// The control methods the daemon answers, by name. One line per method.
import { shutdownMethod } from './shutdown.js';
import { statusMethod } from './status.js';
import type { ControlMethod } from './types.js';

export const CONTROL_METHODS: Readonly<Record<string, ControlMethod>> = {
  status: statusMethod,
  shutdown: shutdownMethod,
};
