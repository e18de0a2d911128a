// The Prometheus section: what experimental_prometheus costs. Two `ncache
// serve` daemons on the test config, one with the service on its listener
// (its port then goes through the connection splitter and grpc-js's
// connection injector), take the same small-RPC mix in alternating rounds;
// the daemon's CPU time per call (/proc) and the client's wall time per call
// are compared. Then the cost of one scrape of the daemon that served them.
import { randomBytes, randomUUID } from 'node:crypto';
import { DaemonFixture, type DaemonProcess } from '../test/helpers/daemon-process.js';
import { httpGet } from '../test/helpers/http-get.js';
import { digestOfBuffer } from './blob-data.js';
import type { BenchSettings } from './env.js';
import { check } from './measure.js';
import { median, millis, table } from './format.js';
import { processCpuSeconds } from './proc-usage.js';
import { ReapiClient } from './reapi-client.js';

/** Calls per round and daemon: a FindMissingBlobs of 10 digests, a GetActionResult miss, a 4 KiB ByteStream write and its read. */
const MIXES_PER_ROUND = 250;
const CALLS_PER_MIX = 4;
const SCRAPES = 50;

interface Side {
  readonly name: string;
  readonly daemon: DaemonProcess;
  readonly client: ReapiClient;
  readonly cpuUsPerCall: number[];
  readonly wallUsPerCall: number[];
}

async function round(side: Side, seed: string): Promise<void> {
  const cpuBefore = await processCpuSeconds(side.daemon.pid);
  const started = performance.now();
  for (let i = 0; i < MIXES_PER_ROUND; i++) {
    const blob = Buffer.concat([Buffer.from(`${seed}-${i}`), randomBytes(4096)]);
    const digest = digestOfBuffer(blob);
    const unknown = Array.from({ length: 10 }, () => ({ hash: randomBytes(32).toString('hex'), sizeBytes: 100 }));
    await side.client.findMissingBlobs(unknown);
    await side.client.getActionResult(unknown[0]!).catch(() => undefined);
    await side.client.write(digest, [blob], randomUUID());
    await side.client.read(digest);
  }
  const calls = MIXES_PER_ROUND * CALLS_PER_MIX;
  side.wallUsPerCall.push(((performance.now() - started) * 1000) / calls);
  side.cpuUsPerCall.push(((await processCpuSeconds(side.daemon.pid)) - cpuBefore) * 1e6 / calls);
}

export async function runPrometheusBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('\n## Prometheus (experimental_prometheus on the gRPC listener)');
  const plainFixture = await DaemonFixture.create();
  const scrapedFixture = await DaemonFixture.create({ prometheus: { path: '/metrics' } });
  const sides: Side[] = [];
  try {
    for (const [name, fixture] of [['without the service', plainFixture], ['with experimental_prometheus', scrapedFixture]] as const) {
      const daemon = await fixture.start();
      sides.push({ name, daemon, client: new ReapiClient(daemon.address), cpuUsPerCall: [], wallUsPerCall: [] });
    }
    const rounds = Math.max(4, settings.repeats);
    // One warm-up round each, then alternating order so a busier moment of the machine hits both.
    for (const side of sides) await round(side, 'warmup');
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) await round(side, `r${r}`);
    }
    const rows = sides.map((s) => [s.name, `${median(s.cpuUsPerCall).toFixed(0)} µs`, `${median(s.wallUsPerCall).toFixed(0)} µs`]);
    print(table(['daemon', 'daemon CPU per call', 'client wall time per call'], rows));
    print(`  (median of ${rounds} alternating rounds of ${MIXES_PER_ROUND * CALLS_PER_MIX} calls: FindMissingBlobs x10 digests, GetActionResult miss, 4 KiB ByteStream write + read)`);

    const scraped = sides[1]!.daemon;
    const url = `http://${scraped.address}/metrics`;
    const wallMs: number[] = [];
    let bytes = 0;
    let series = 0;
    const cpuBefore = await processCpuSeconds(scraped.pid);
    for (let i = 0; i < SCRAPES; i++) {
      const started = performance.now();
      const answer = await httpGet(url);
      wallMs.push(performance.now() - started);
      check(answer.status === 200, `GET ${url}: HTTP ${answer.status}`);
      bytes = answer.body.length;
      series = answer.body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
    }
    const cpuMs = ((await processCpuSeconds(scraped.pid)) - cpuBefore) * 1000 / SCRAPES;
    print(`  one scrape: ${millis(median(wallMs))} wall (median of ${SCRAPES}, fresh connection each), ${cpuMs.toFixed(1)} ms daemon CPU, ${(bytes / 1024).toFixed(0)} KiB, ${series} series`);
  } finally {
    for (const side of sides) side.client.close();
    await plainFixture.cleanup();
    await scrapedFixture.cleanup();
  }
}
