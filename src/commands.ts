// The commands but `netmon` (main.ts runs that one alone): `run` (the agent), and the operator commands
// that talk to it through agent.sock.
import fs from 'node:fs';
import { applyFile, readApplyPayload, renderSpec, validatePayload } from './cli/apply-input.js';
import { jsonOutput, OUTPUT_OPTIONS, parseCommand, wantsHelp } from './cli/args.js';
import { CommandFailed, EXIT, InputError, UsageError } from './cli/cli-errors.js';
import { HELP } from './cli/help.js';
import { askAgent, AgentUnreachable } from './cli/control-client.js';
import { renderPlan, renderState, renderStateList, type PlanStep } from './cli/state-table.js';
import { ConfigError, loadCliConfig, loadConfig, type CliConfig, type Config } from './config.js';
import { startIdleGc } from './idle-gc.js';
import { lightSettingsWarning } from './light-settings.js';
import type { ControlRequest } from './sources/control/protocol.js';
import { stateSchema, type State } from './store/schema.js';
import { DataDirLockedError } from './store/data-dir-lock.js';
import { CredentialsError } from './sources/cloud/credentials.js';
import { firstIssueMessage } from './domain/validation-error.js';

const USAGE = `usage: orchestrator-agent <command> [options]   (every command takes --help)
  run                         start the agent
  netmon                      start the network monitor sidecar
  state [NAME] [--json]       one line per runtime; with NAME, desired vs observed state of that one
  plan [--json]               the steps the reconciler would take now (nothing is done)
  health [--json]             exit 0 when healthy (Docker HEALTHCHECK), 1 with the reasons when not
  doctor [--json]             engine, certificate, netmon, cloud, disk, state file, ulimits: OK/WARN/FAIL
                              with a hint each; exit 1 on a FAIL
  apply [-f] <file.json|-> [--dry-run]
                              declare a runtime (a create_new_runtime payload; - reads stdin);
                              --dry-run checks it and shows what would be declared, without the agent
  validate <file.json|->      the same as apply --dry-run
  delete|start|stop|restart <name>
  logs <name>|--agent|--netmon [-f] [--tail N|all] [--since 10m|TIME]
                              a runtime container's output, the agent's log files, or netmon's output
  support-bundle [-o FILE]    a tar.gz for support: doctor, state, plan, logs, docker inspect, versions;
                              secrets redacted (default ./orchestrator-support-<host>-<UTC time>.tar.gz)
  version, --version          the agent's version and the commit it was built from
  update-agent                the updater container's command during a self-update (docs/updates.md);
                              not for operators
--json and -o json print JSON for scripts
exit codes: 0 done, 1 failed or unhealthy, 2 wrong command line or input, 3 agent not running
`;

const EXIT_LINE = 'exit codes: 0 done, 1 failed or unhealthy, 2 wrong command line or input, 3 agent not running\n';

// Each command loads only what it runs (the agent: dockerode, socket.io; doctor and logs: their own);
// netmon never comes here (main.ts).
async function runAgent(config: Config): Promise<void> {
  const { Agent } = await import('./agent.js');
  // stdout, and $ORCH_DATA_DIR/logs/agent.<n>.log (rotated, capped; a full disk never stops the agent).
  const { createAgentLogger } = await import('./log-files.js');
  const { log, files } = createAgentLogger(config.logLevel, config.dataDir);
  const light = lightSettingsWarning();
  if (light) log.warn(light);
  const agent = new Agent(config, log);
  await agent.start();
  const idleGc = startIdleGc();
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    idleGc.stop();
    log.info({ signal: sig }, 'stopping');
    const force = setTimeout(() => process.exit(1), 9500);
    force.unref();
    void agent.stop().then(async () => {
      await files?.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}


const MUTATIONS = { delete: 'deletion requested', start: 'start requested', stop: 'stop requested', restart: 'restart requested' } as const;
const OPERATOR = ['state', 'plan', 'health', 'apply', 'validate', ...Object.keys(MUTATIONS)];

async function operator(config: CliConfig, cmd: string, args: string[]): Promise<number> {
  let req: ControlRequest;
  let json: boolean;
  let only: string | undefined;
  if (cmd === 'apply' || cmd === 'validate') {
    const { values, positionals } = parseCommand(cmd, args, { ...OUTPUT_OPTIONS, filename: { type: 'string', short: 'f' }, ...(cmd === 'apply' ? { 'dry-run': { type: 'boolean' } } : {}) }, { max: 2 });
    json = jsonOutput(cmd, values);
    const file = applyFile(cmd, positionals, values.filename);
    const payload = await readApplyPayload(cmd, file);
    const spec = validatePayload(cmd, file === '-' ? '(stdin)' : file, payload);
    if (cmd === 'validate' || (values as { 'dry-run'?: boolean })['dry-run'] === true) {
      // Offline: the agent's own rules, nothing sent, nothing written.
      process.stdout.write(json ? `${JSON.stringify({ valid: true, spec }, null, 2)}\n` : renderSpec(spec));
      return EXIT.ok;
    }
    req = { command: 'apply', runtime: payload };
  } else {
    const takesName = cmd in MUTATIONS || cmd === 'state';
    const { values, positionals } = parseCommand(cmd, args, OUTPUT_OPTIONS, { max: takesName ? 1 : 0, what: 'runtime name' });
    json = jsonOutput(cmd, values);
    if (cmd === 'state' || cmd === 'plan' || cmd === 'health') {
      req = { command: cmd };
      only = positionals[0];
    } else {
      const name = positionals[0];
      if (!name) throw new UsageError(`${cmd} needs a runtime name`);
      req = { command: cmd as keyof typeof MUTATIONS, name };
    }
  }
  let answer;
  try {
    answer = await askAgent(config.controlSocket, req);
  } catch (e) {
    if (e instanceof AgentUnreachable && e.notRunning && cmd === 'state' && fs.existsSync(config.stateFile)) {
      // Read-only fallback: the file is the truth of desired state even while the agent is down.
      const state = readStateFile(config.stateFile);
      process.stderr.write(`(agent not running: read ${config.stateFile})\n`);
      writeState(state, only, json, { state });
      return EXIT.ok;
    }
    throw e;
  }
  if (!answer.success) {
    if (json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    throw new CommandFailed(answer.error);
  }
  const { success: _s, ...body } = answer;
  if (cmd === 'state') {
    writeState(stateSchema.parse(answer.state), only, json, body);
    return EXIT.ok;
  }
  if (json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  if (cmd === 'health') {
    const h = answer as unknown as { healthy: boolean; problems: string[] };
    if (!json) process.stdout.write(h.healthy ? 'healthy\n' : `unhealthy: ${h.problems.join('; ')}\n`);
    return h.healthy ? EXIT.ok : EXIT.failed;
  }
  if (json) return EXIT.ok;
  if (cmd === 'plan') process.stdout.write(renderPlan(answer.steps as PlanStep[]));
  else if (req.command === 'apply') {
    const name = (req.runtime as { container_name?: unknown } | null)?.container_name;
    process.stdout.write(`${typeof name === 'string' ? name : 'runtime'}: ${typeof answer.result === 'string' ? answer.result : 'done'}\n`);
  } else if ('name' in req) process.stdout.write(`${req.name}: ${MUTATIONS[req.command]}\n`);
  return EXIT.ok;
}

/** `state`: the list; `state NAME`: that runtime's block (`--json`: its record), exit 1 when there is none. */
function writeState(state: State, only: string | undefined, json: boolean, body: Record<string, unknown>): void {
  if (only !== undefined && !(only in state.runtimes)) throw new CommandFailed(`runtime ${only} not found`);
  if (json) process.stdout.write(`${JSON.stringify(only === undefined ? body : { runtime: state.runtimes[only] }, null, 2)}\n`);
  else process.stdout.write(only === undefined ? renderStateList(state) : renderState(state, only));
}

/** The state file read directly (agent down); a broken one is one line, as `doctor` would say. */
function readStateFile(file: string) {
  let parsed;
  try {
    parsed = stateSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (e) {
    throw new InputError(`agent not running, and ${file} cannot be read: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!parsed.success) throw new InputError(`agent not running, and ${file} is not valid: ${firstIssueMessage(parsed.error)}`);
  return parsed.data;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const topic = cmd === 'help' ? args[0] : undefined;
    if (topic !== undefined && HELP[topic] !== undefined) process.stdout.write(`usage: orchestrator-agent ${HELP[topic]}\n${EXIT_LINE}`);
    else (cmd ? process.stdout : process.stderr).write(USAGE);
    return cmd ? EXIT.ok : EXIT.usage;
  }
  if (HELP[cmd] === undefined && cmd !== '--version') throw new UsageError(`unknown command "${cmd}"`);
  // Before anything else: `stop --help` prints the usage of stop and stops nothing.
  if (wantsHelp(args)) {
    process.stdout.write(`usage: orchestrator-agent ${HELP[cmd] ?? HELP.version}\n${EXIT_LINE}`);
    return EXIT.ok;
  }
  if (cmd === 'version' || cmd === '--version') {
    parseCommand(cmd, args, {}, { max: 0 });
    const { VERSION, COMMIT } = await import('./version.js');
    process.stdout.write(`orchestrator-agent ${VERSION} (commit ${COMMIT})\n`);
    return EXIT.ok;
  }
  if (cmd === 'run') {
    parseCommand(cmd, args, {}, { max: 0 });
    await runAgent(loadConfig());
    return -1; // keeps running
  }
  if (cmd === 'update-agent') {
    parseCommand(cmd, args, {}, { max: 0 });
    const config = loadConfig();
    const { runUpdater } = await import('./update/updater.js');
    const { createLogger } = await import('./log.js');
    return runUpdater(config, createLogger(config.logLevel, { component: 'updater' }));
  }
  if (cmd === 'doctor') {
    const { values } = parseCommand(cmd, args, OUTPUT_OPTIONS, { max: 0 });
    const json = jsonOutput(cmd, values);
    const { doctor, renderChecks } = await import('./cli/doctor.js');
    const checks = await doctor(loadConfig());
    process.stdout.write(json ? `${JSON.stringify({ checks }, null, 2)}\n` : renderChecks(checks));
    return checks.some((c) => c.level === 'FAIL') ? EXIT.failed : EXIT.ok;
  }
  if (cmd === 'logs') {
    const { parseLogsArgs, showLogs } = await import('./cli/logs.js');
    // Parsed before the configuration is read: a wrong command line is exit 2 whatever the settings.
    const a = parseLogsArgs(args);
    return showLogs(loadCliConfig(), a);
  }
  if (cmd === 'support-bundle') {
    const { parseBundleArgs, supportBundle } = await import('./cli/support-bundle.js');
    const output = parseBundleArgs(args).output;
    const { file, errors } = await supportBundle(loadConfig(), output);
    process.stdout.write(`${file}\n`);
    if (errors.length > 0) process.stderr.write(`(incomplete: ${errors.length} part(s) missing or cut, see errors.txt in the bundle)\n`);
    return EXIT.ok;
  }
  if (OPERATOR.includes(cmd)) return operator(loadCliConfig(), cmd, args);
  throw new UsageError(`unknown command "${cmd}"`);
}

// `logs … | head`: a closed pipe ends the command quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(EXIT.ok);
});

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    // One line, one prefix, never a stack trace: expected conditions say what is wrong; anything else is
    // still one line (the message), exit 1.
    const input = e instanceof UsageError || e instanceof InputError;
    const known = input || e instanceof CommandFailed || e instanceof ConfigError || e instanceof CredentialsError || e instanceof DataDirLockedError || e instanceof AgentUnreachable;
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    process.stderr.write(`orchestrator-agent: ${known ? message : `unexpected error: ${message}`}\n`);
    if (e instanceof UsageError) process.stderr.write(`run \`orchestrator-agent ${HELP[process.argv[2] ?? ''] ? `${process.argv[2]} ` : ''}--help\` for the usage\n`);
    process.exitCode = input || e instanceof ConfigError ? EXIT.usage : e instanceof AgentUnreachable && e.notRunning ? EXIT.agentNotRunning : EXIT.failed;
  },
);
