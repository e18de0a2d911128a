// `ncache init --exec` and `ncache init --aws --exec`: the parts of a config
// that run Bazel's actions, in NativeLink's layout: a `simple` scheduler, a
// `local` worker whose cas_fast_slow_store has a filesystem fast tier (inputs
// are hardlinked from it), the execution service beside the CAS, and a second
// listener serving `worker_api` that the worker's endpoint names. Written as
// lines into the templates' `// {{exec ...}}` placeholders, so both variants
// share one text.
import { arch, availableParallelism, totalmem, type as osType } from 'node:os';

/** The worker's platform properties, read from this machine when init runs. */
export interface ExecMachine {
  readonly cpuCount: number;
  readonly memoryKb: number;
  /** Bazel's OSFamily spelling: "Linux", "Darwin", "Windows". */
  readonly osFamily: string;
  /** "x86-64", "aarch64", or Node's name for other architectures. */
  readonly isa: string;
}

export const SCHEDULER_NAME = 'MAIN_SCHEDULER';
export const WORKER_CAS_NAME = 'WORKER_CAS';
export const WORKER_API_ADDRESS = '127.0.0.1:50061';

const ISA_NAMES: Readonly<Record<string, string>> = { x64: 'x86-64', arm64: 'aarch64' };
const OS_FAMILIES: Readonly<Record<string, string>> = { Linux: 'Linux', Darwin: 'Darwin', Windows_NT: 'Windows' };

export function thisMachine(): ExecMachine {
  return {
    cpuCount: availableParallelism(),
    memoryKb: Math.floor(totalmem() / 1024),
    osFamily: OS_FAMILIES[osType()] ?? osType(),
    isa: ISA_NAMES[arch()] ?? arch(),
  };
}

/** Where the worker's CAS files live: the CAS itself on a laptop, a whole-file copy in front of S3 with --aws. */
export type WorkerCasLayout = 'shared-with-cas' | 'in-front-of-cas';

function workerStoreLines(layout: WorkerCasLayout): string[] {
  const fast = (dir: string, tmp: string, comment: string[]) => [
    'fast: {',
    '  filesystem: {',
    ...comment.map((c) => `    // ${c}`),
    `    content_path: "\${NCACHE_CACHE_DIR}/${dir}",`,
    '    // Uploads are written here first and moved into place when complete;',
    '    // must be on the same filesystem as content_path.',
    `    temp_path: "\${NCACHE_CACHE_DIR}/${tmp}",`,
    '    eviction_policy: { max_bytes: "10gb" },',
    '  },',
    '},',
  ];
  const body =
    layout === 'shared-with-cas'
      ? [
          '// The CAS\'s files on disk, one per blob; CAS above reaches them through',
          '// verify. This is the worker\'s cas_fast_slow_store: it hardlinks an',
          '// action\'s inputs from the fast (filesystem) tier, read-only, and moves',
          '// outputs into it, so no blob is copied.',
          `name: "${WORKER_CAS_NAME}",`,
          'fast_slow: {',
          ...indent('  ', fast('cas', 'tmp', ['Blobs live here and survive restarts.'])),
          '  // No second tier on one machine: the slow side holds nothing and',
          '  // is never written to.',
          '  slow: { noop: {} },',
          '  slow_direction: "get",',
          '},',
        ]
      : [
          '// Whole-file copies of the blobs actions use, for the worker (the CAS',
          '// above keeps them as compressed chunks, which cannot be linked). This',
          '// is the worker\'s cas_fast_slow_store: it hardlinks an action\'s inputs',
          '// from the fast (filesystem) tier, read-only, fetching a missing one from',
          '// the CAS once; outputs go to both tiers, so the CAS (and S3) has them.',
          '// A filesystem tier even with --memory-tier: links need files.',
          `name: "${WORKER_CAS_NAME}",`,
          'fast_slow: {',
          ...indent('  ', fast('worker-cas', 'tmp-worker-cas', ['Survives restarts.'])),
          '  slow: { ref_store: { name: "CAS" } },',
          '},',
        ];
  return ['{', ...indent('  ', body), '},'];
}

/**
 * The scheduler, in both templates. Without --exec, --aws keeps it as
 * NativeLink's S3 example has it, used by no service.
 */
function schedulerLines(exec: boolean): string[] {
  const intro = exec
    ? [
        '// Queues the actions Bazel sends and hands each to a worker whose',
        '// platform_properties satisfy the action\'s platform. Bazel sends an empty',
        '// platform unless a target sets exec_properties (or you pass',
        '// --remote_default_exec_properties), and an empty platform runs on any worker.',
      ]
    : [
        '// As in NativeLink\'s S3 example; no service below uses it. `ncache init',
        '// --aws --exec` writes a config that runs actions through it.',
      ];
  return [
    ...intro,
    'schedulers: [',
    '  {',
    `    name: "${SCHEDULER_NAME}",`,
    '    simple: {',
    '      // The properties an action may name; any other is refused with an',
    '      // error naming it. "minimum": the worker\'s value must be at least the',
    '      // action\'s (running actions use it up); "exact": must be equal;',
    '      // "priority": a preference, never required; "ignore": accepted, not',
    '      // matched. Actions run on this machine as they are, not in a',
    '      // container: container-image and docker_image are listed so platforms',
    '      // written for build farms are accepted.',
    '      supported_platform_properties: {',
    '        cpu_count: "minimum",',
    '        memory_kb: "minimum",',
    '        OSFamily: "exact",',
    '        ISA: "exact",',
    '        "container-image": "ignore",',
    '        docker_image: "priority",',
    '        "lre-rs": "priority",',
    '      },',
    '    },',
    '  },',
    '],',
  ];
}

function executionServiceLines(): string[] {
  return [
    '// Execute and WaitExecution: actions for instance "" go to MAIN_SCHEDULER.',
    `execution: [{ instance_name: "", cas_store: "CAS", scheduler: "${SCHEDULER_NAME}" }],`,
  ];
}

/** The capabilities line: with --exec, it advertises execution through the scheduler. */
function capabilitiesLines(exec: boolean): string[] {
  return exec
    ? [
        '// Tells Bazel what this server supports: SHA-256, caching, and',
        `// execution through ${SCHEDULER_NAME}.`,
        `capabilities: [{ instance_name: "", remote_execution: { scheduler: "${SCHEDULER_NAME}" } }],`,
      ]
    : ['// Tells Bazel what this server supports (SHA-256, caching only).', 'capabilities: [{ instance_name: "" }],'];
}

function workerApiServerLines(): string[] {
  return [
    '{',
    '  // NativeLink\'s worker API: workers reach the scheduler here (the',
    '  // worker\'s worker_api_endpoint names this address). Loopback only.',
    '  name: "worker_api",',
    `  listener: { http: { socket_address: "${WORKER_API_ADDRESS}" } },`,
    `  services: { worker_api: { scheduler: "${SCHEDULER_NAME}" }, health: {} },`,
    '},',
  ];
}

function workerLines(machine: ExecMachine): string[] {
  return [
    '',
    'workers: [',
    '  {',
    '    local: {',
    '      // Shown by `ncache status` and `ncache ops`.',
    '      name: "local",',
    '      // The scheduler\'s worker API: the worker_api listener above.',
    `      worker_api_endpoint: { uri: "grpc://${WORKER_API_ADDRESS}" },`,
    `      cas_fast_slow_store: "${WORKER_CAS_NAME}",`,
    '      // Results of successful actions go to the action cache, so the same',
    '      // action is a cache hit next time.',
    '      upload_action_result: { ac_store: "AC" },',
    '      // One fresh directory per action, removed when it is done. On the same',
    '      // filesystem as the CAS, or inputs are copied instead of linked.',
    '      work_directory: "${NCACHE_CACHE_DIR}/work",',
    '      // What this worker offers, read from this machine by ncache init. It',
    '      // runs up to cpu_count actions at once.',
    '      platform_properties: {',
    `        cpu_count: { values: ["${machine.cpuCount}"] },`,
    `        memory_kb: { values: ["${machine.memoryKb}"] },`,
    `        OSFamily: { values: [${JSON.stringify(machine.osFamily)}] },`,
    `        ISA: { values: [${JSON.stringify(machine.isa)}] },`,
    '      },',
    '      // The longest an action may run (Bazel sets a timeout for tests only;',
    '      // other actions get this one). A longer requested timeout is refused.',
    '      max_action_timeout: "20m",',
    '    },',
    '  },',
    '],',
  ];
}

/** Fills the `// {{exec ...}}`, `// {{scheduler}}` and `// {{capabilities}}` placeholders; without `machine`, removes the exec ones. */
export function fillExecPlaceholders(text: string, machine: ExecMachine | null, layout: WorkerCasLayout): string {
  const exec = machine !== null;
  const blocks: Record<string, string[]> = {
    'exec worker store': exec ? workerStoreLines(layout) : [],
    'exec services': exec ? executionServiceLines() : [],
    'exec worker_api server': exec ? workerApiServerLines() : [],
    'exec workers': machine !== null ? workerLines(machine) : [],
    scheduler: schedulerLines(exec),
    capabilities: capabilitiesLines(exec),
  };
  return text.replace(/^( *)\/\/ \{\{(exec [a-z_ ]+|scheduler|capabilities)\}\}\n/gm, (line, pad: string, name: string) => {
    const lines = blocks[name];
    return lines === undefined ? line : indent(pad, lines).map((l) => `${l}\n`).join('');
  });
}

function indent(prefix: string, lines: string[]): string[] {
  return lines.map((l) => (l === '' ? l : `${prefix}${l}`));
}
