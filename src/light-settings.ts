// The light settings (issue #12's memory figures, docs/performance.md) for the two long-running commands,
// `run` and `netmon`, however they are started. They are node flags and one malloc variable that only
// count when the process starts: `v8.setFlagsFromString('--max-semi-space-size=1')` later has no effect,
// glibc reads MALLOC_ARENA_MAX once, and the V8 platform's threads exist before any script runs. So the
// entry re-executes itself once with them, in place (`process.execve`: same pid, so Docker's PID 1 and a
// systemd unit's main process stay the one they started; a waiting parent would cost ~42 MiB VmRSS).
// Node 20 has no `process.execve` (22.15+ and 24 have): there, bin/orchestrator-agent (the package's bin,
// `npm start`, the images' ENTRYPOINT, the systemd unit of docs/installation.md) execs node with them, and
// a bare `node dist/main.js run` on Node 20 runs without them (docs/performance.md says what that costs).
// Imported by main.ts before anything else: it must stay free of imports (netmon loads nothing more).

// Why each (issue #12; docs/performance.md): MALLOC_ARENA_MAX=2 and --v8-pool-size=1 (one V8 background
// thread instead of four) keep glibc from giving each busy thread its own malloc arena (−5 MiB VmRSS for the
// agent, −1.5 to −2 for netmon); --jitless runs JavaScript in V8's interpreter only, so the compilers in the
// node binary are never paged in (−7 to −8 MiB for the agent, −5 to −7 for netmon; idle CPU fell). It turns
// WebAssembly off, which nothing the agent loads uses (ssh2, which would, is deferred: docker/dockerode.ts);
// --no-expose-wasm first says so and spares the warning. --max-semi-space-size=1 keeps V8's young
// generation at 1 MiB: a burst of 50 creates had grown it to 16 MiB per semi-space (75–95 MiB agent).

/** The flags per Node major, as measured (docs/security.md, "Node LTS"): on 22, --jitless dies at start
 * (`import 'node:http'` reaches undici's WebAssembly) and so --no-expose-wasm cannot be there either;
 * 24 refuses --no-expose-wasm ("bad option"). bin/orchestrator-agent holds the Node 20 line too. */
export function lightFlags(nodeMajor: number): string[] {
  const common = ['--v8-pool-size=1', '--max-semi-space-size=1'];
  if (nodeMajor < 20) return [];
  if (nodeMajor < 22) return [...common, '--no-expose-wasm', '--jitless'];
  if (nodeMajor < 24) return common;
  return [...common, '--jitless'];
}

export const MALLOC_ARENA_MAX = '2';

export interface Reexec {
  args: string[];
  env: Record<string, string | undefined>;
}

/** What to re-execute with, or null when the process already has the settings. A flag the process was
 * started with under the same name (`--max-semi-space-size=4`) is the operator's choice and is kept. */
export function reexecPlan(execPath: string, execArgv: string[], argv: string[], env: Record<string, string | undefined>, nodeMajor: number): Reexec | null {
  const missing = missingFlags(execArgv, nodeMajor);
  const needEnv = env.MALLOC_ARENA_MAX === undefined;
  if (missing.length === 0 && !needEnv) return null;
  return {
    args: [execPath, ...missing, ...execArgv, ...argv.slice(1)],
    env: needEnv ? { ...env, MALLOC_ARENA_MAX } : env,
  };
}

function missingFlags(execArgv: string[], nodeMajor: number): string[] {
  const has = new Set(execArgv.map((a) => a.split('=')[0]));
  return lightFlags(nodeMajor).filter((f) => !has.has(f.split('=')[0]));
}

/** The settings this process runs without (empty when it has them all), for the warning `run` and netmon
 * log at start: on Node 20 a bare `node dist/main.js run` cannot re-execute itself (no process.execve). */
function missingLightSettings(execArgv: string[], env: Record<string, string | undefined>, nodeMajor: number): string[] {
  return [...missingFlags(execArgv, nodeMajor), ...(env.MALLOC_ARENA_MAX === undefined ? [`MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX}`] : [])];
}

/** The start-up warning for a process without the light settings, or null when it has them. */
export function lightSettingsWarning(): string | null {
  const missing = missingLightSettings(process.execArgv, process.env, Number(process.versions.node.split('.')[0]));
  if (missing.length === 0) return null;
  return `running without the light settings (${missing.join(' ')}): more memory than needed (docs/performance.md); Node ${process.versions.node} cannot re-execute itself with them: start through bin/orchestrator-agent, or on Node >= 22.15`;
}

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

/** Re-executes the process with the light settings when it lacks them and Node can (process.execve). */
export function ensureLightSettings(): void {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== 'function') return;
  const plan = reexecPlan(process.execPath, process.execArgv, process.argv, process.env, Number(process.versions.node.split('.')[0]));
  if (!plan) return;
  try {
    execve.call(process, process.execPath, plan.args, plan.env);
  } catch {
    // execve(2) refused (a seccomp policy, a vanished binary): run on without the settings
  }
}
