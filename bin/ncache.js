#!/usr/bin/env node
// Shim: the CLI is compiled TypeScript under dist/.
import('../dist/src/cli.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err);
  process.exit(1);
});
