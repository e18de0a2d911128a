// Summarizes a V8 .cpuprofile (what `node --cpu-prof` writes): where the
// busy time went, by function (self time, and total time: the samples whose
// stack contains the function) and by file or package. Used by the Bazel
// bench for each profiled daemon phase; also a command:
//   node dist/bench/cpu-profile.js <file.cpuprofile> [top]
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of the .cpuprofile JSON this reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  /** Microseconds before each sample (the first is from startTime). */
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface CostRow {
  name: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers. */
  spanMs: number;
  /** Sampled time not idle: JavaScript, native code, GC. */
  busyMs: number;
  gcMs: number;
  functions: CostRow[];
  files: CostRow[];
  packages: CostRow[];
}

// V8's pseudo-frames: not functions of ours.
const IDLE = '(idle)';
const ROOT = '(root)';

/** "node_modules/@grpc/grpc-js/build/src/server.js" -> "@grpc/grpc-js"; project files keep their path from src/ or bench/. */
function shortFile(url: string): string {
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  const own = /\/dist\/((?:src|bench|test)\/.*)$/.exec(path);
  if (own) return own[1]!;
  return path;
}

function packageOf(file: string): string {
  if (file.startsWith('node:')) return 'node (built-in modules)';
  if (file === '(native)') return '(native, GC, program)';
  if (file.startsWith('src/') || file.startsWith('bench/') || file.startsWith('test/')) {
    const parts = file.split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : file;
  }
  const parts = file.split('/');
  return file.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function functionKey(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  return `${name} ${shortFile(frame.url)}:${frame.lineNumber + 1}`;
}

function rows(self: Map<string, number>, total: Map<string, number>): CostRow[] {
  const keys = new Set([...self.keys(), ...total.keys()]);
  return [...keys]
    .map((name) => ({ name, selfMs: (self.get(name) ?? 0) / 1000, totalMs: (total.get(name) ?? 0) / 1000 }))
    .sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfFn = new Map<string, number>();
  const totalFn = new Map<string, number>();
  const selfFile = new Map<string, number>();
  const totalFile = new Map<string, number>();
  const selfPkg = new Map<string, number>();
  const totalPkg = new Map<string, number>();
  let busy = 0;
  let gc = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // A sample stands for the time until the next one.
    const us = timeDeltas[i + 1] ?? 0;
    const leaf = byId.get(samples[i]!);
    if (leaf === undefined || us <= 0) continue;
    const frame = leaf.callFrame;
    if (frame.functionName === IDLE) continue;
    busy += us;
    if (frame.functionName === '(garbage collector)') gc += us;
    const leafFile = shortFile(frame.url);
    add(selfFn, functionKey(frame), us);
    add(selfFile, leafFile, us);
    add(selfPkg, packageOf(leafFile), us);
    // Total: each function, file and package once per sample, however often it recurs in the stack.
    const seenFn = new Set<string>();
    const seenFile = new Set<string>();
    const seenPkg = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.functionName === ROOT) break;
      const file = shortFile(f.url);
      seenFn.add(functionKey(f));
      seenFile.add(file);
      seenPkg.add(packageOf(file));
    }
    for (const k of seenFn) add(totalFn, k, us);
    for (const k of seenFile) add(totalFile, k, us);
    for (const k of seenPkg) add(totalPkg, k, us);
  }
  return {
    spanMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busy / 1000,
    gcMs: gc / 1000,
    functions: rows(selfFn, totalFn),
    files: rows(selfFile, totalFile),
    packages: rows(selfPkg, totalPkg),
  };
}

export async function readProfile(path: string): Promise<CpuProfile> {
  return JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
}

/** Text lines: the busy time, then the top functions by self time, files and packages. */
export function formatSummary(summary: ProfileSummary, top = 15): string[] {
  const pct = (ms: number) => `${((100 * ms) / Math.max(summary.busyMs, 1e-9)).toFixed(1).padStart(5)}%`;
  const line = (r: CostRow) =>
    `    ${r.selfMs.toFixed(0).padStart(6)} ms ${pct(r.selfMs)} self  ${r.totalMs.toFixed(0).padStart(6)} ms total  ${r.name}`;
  return [
    `  busy ${summary.busyMs.toFixed(0)} ms of ${summary.spanMs.toFixed(0)} ms sampled (GC ${summary.gcMs.toFixed(0)} ms)`,
    '  top functions by self time:',
    ...summary.functions.slice(0, top).map(line),
    '  by file:',
    ...summary.files.slice(0, top).map(line),
    '  by package (total: any frame of it on the stack):',
    ...summary.packages.slice(0, top).map(line),
  ];
}

async function main(): Promise<void> {
  const [path, topArg] = process.argv.slice(2);
  if (path === undefined) throw new Error('usage: node dist/bench/cpu-profile.js <file.cpuprofile> [top]');
  const top = topArg === undefined ? 25 : Number(topArg);
  if (!Number.isInteger(top) || top <= 0) throw new Error(`top: expected a positive integer, got "${topArg}"`);
  for (const line of formatSummary(summarizeProfile(await readProfile(path)), top)) process.stdout.write(line + '\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
