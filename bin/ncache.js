#!/usr/bin/env node
// Shim: the CLI is compiled TypeScript under dist/.
// The filesystem store fsyncs every blob and reads through libuv's thread
// pool; its default of 4 threads queues a parallel build's uploads behind
// each other. It must be sized before the pool's first use, so it is set here.
process.env.UV_THREADPOOL_SIZE ??= '16';
// The AWS SDK warns on stderr that its future releases need Node 22; that is
// not actionable for an ncache user (we pin a release that supports Node 20).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import('../dist/src/cli.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err);
  process.exit(1);
});
