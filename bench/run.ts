// `npm run bench`: numbers, not pass/fail. Starts `ncache serve` (filesystem
// store) as a child process so its memory can be read from /proc, measures the
// gRPC paths Bazel uses, then times real Bazel builds. Sizes: see env.ts.
import { cpus, loadavg, totalmem } from 'node:os';
import { findBazel } from '../test/helpers/bazel.js';
import { runBazelBench } from './build-bench.js';
import { readSettings, SETTINGS_HELP } from './env.js';
import { mb } from './format.js';

async function main(): Promise<void> {
  // As bin/ncache.js does: the AWS SDK's Node 22 notice would only clutter the table (the S3 section runs in process).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const settings = readSettings();
  const print = (line: string) => process.stdout.write(line + '\n');
  const cpuList = cpus();
  print('# ncache benchmark');
  print(`cores: ${cpuList.length} (${cpuList[0]?.model.trim() ?? 'unknown'}), memory: ${mb(totalmem())}`);
  print(`node ${process.version}, ${process.platform}/${process.arch}, bazel: ${findBazel() ?? 'not installed'}`);
  // Other work on the machine skews every number below; the load average says how much there was.
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  print(`load average at start: ${load()}`);
  print(`sections: ${[...settings.sections].join(', ')}`);
  print(`knobs: ${SETTINGS_HELP.join('\n       ')}`);

  if (settings.sections.has('rpc')) {
    const { runRpcBench } = await import('./rpc-bench.js');
    await runRpcBench(settings, print);
  }
  if (settings.sections.has('load')) {
    const { runLoad, formatLoadReport } = await import('./load/run.js');
    print(`\n## Under load: ${settings.load.clients} concurrent clients for ${settings.load.seconds} s against \`ncache serve\` (default filesystem config)`);
    for (const line of formatLoadReport(await runLoad(settings.load))) print(line);
  }
  if (settings.sections.has('bazel')) await runBazelBench(settings, print);
  if (settings.sections.has('replay')) {
    const { runReplayBench } = await import('./action-replay.js');
    await runReplayBench(settings, print);
  }
  if (settings.sections.has('exec')) {
    const { runExecBench } = await import('./exec-bench.js');
    await runExecBench(settings, print);
  }
  if (settings.sections.has('remote')) {
    const { runRemoteBench } = await import('./remote-bench.js');
    await runRemoteBench(settings, print);
  }
  if (settings.sections.has('s3')) {
    const { runS3Bench } = await import('./s3-bench.js');
    await runS3Bench(settings, print);
  }
  if (settings.sections.has('presence')) {
    const { runPresenceBench } = await import('./presence-bench.js');
    await runPresenceBench(settings, print);
  }
  if (settings.sections.has('dedup')) {
    const { runDedupBench } = await import('./dedup-bench.js');
    await runDedupBench(settings, print);
  }
  if (settings.sections.has('zstd')) {
    const { runZstdBench } = await import('./zstd-bench.js');
    await runZstdBench(settings, print);
  }
  if (settings.sections.has('prometheus')) {
    const { runPrometheusBench } = await import('./prometheus-bench.js');
    await runPrometheusBench(settings, print);
  }
  if (settings.sections.has('upstream')) {
    const { runUpstreamBench } = await import('./upstream-bench.js');
    await runUpstreamBench(settings, print);
  }
  print(`\nload average at end: ${load()}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
