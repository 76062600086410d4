// The commands but `netmon` (main.ts runs that one alone): `run` (the agent), and the operator commands
// that talk to it through agent.sock.
import fs from 'node:fs';
import { applyFileArg, readApplyPayload } from './cli/apply-input.js';
import { CommandFailed, EXIT, InputError, UsageError } from './cli/cli-errors.js';
import { askAgent, AgentUnreachable } from './cli/control-client.js';
import { renderPlan, renderState, type PlanStep } from './cli/state-table.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startIdleGc } from './idle-gc.js';
import type { ControlRequest } from './sources/control/protocol.js';
import { stateSchema } from './store/schema.js';
import { DataDirLockedError } from './store/data-dir-lock.js';
import { CredentialsError } from './sources/cloud/credentials.js';
import { firstIssueMessage } from './domain/validation-error.js';

const USAGE = `usage: orchestrator-agent <command> [--json]
  run                         start the agent
  netmon                      start the network monitor sidecar
  state [--json]              desired vs observed state of every runtime
  plan [--json]               the steps the reconciler would take now (nothing is done)
  health [--json]             exit 0 when healthy (Docker HEALTHCHECK), 1 with the reasons when not
  doctor [--json]             engine, certificate, netmon, cloud, disk, state file, ulimits: OK/WARN/FAIL
                              with a hint each; exit 1 on a FAIL
  apply [-f] <file.json|->    declare a runtime (a create_new_runtime payload; - reads stdin)
  delete|start|stop|restart <name>
  logs <name> [-f] [--tail N] the runtime container's output (from the engine; -f follows it)
  support-bundle [-o FILE]    a tar.gz for support: doctor, state, plan, logs, docker inspect, versions;
                              secrets redacted (default ./orchestrator-support-<host>-<UTC time>.tar.gz)
  version, --version          the agent's version and the commit it was built from
  update-agent                the updater container's command during a self-update (docs/updates.md);
                              not for operators
exit codes: 0 done, 1 failed or unhealthy, 2 wrong command line or input, 3 agent not running
`;

// Each command loads only what it runs (the agent: dockerode, socket.io; doctor and logs: their own);
// netmon never comes here (main.ts).
async function runAgent(config: Config): Promise<void> {
  const { Agent } = await import('./agent.js');
  // stdout, and $ORCH_DATA_DIR/logs/agent.<n>.log (rotated, capped; a full disk never stops the agent).
  const { createAgentLogger } = await import('./log-files.js');
  const { log, files } = createAgentLogger(config.logLevel, config.dataDir);
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

async function operator(config: Config, cmd: string, args: string[]): Promise<number> {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  let req: ControlRequest;
  if (cmd === 'state' || cmd === 'plan' || cmd === 'health') {
    if (rest.length > 0) throw new UsageError(`${cmd} takes no argument; unexpected: ${rest.join(' ')}`);
    req = { command: cmd };
  } else if (cmd === 'apply') {
    req = { command: 'apply', runtime: readApplyPayload(applyFileArg(args)) };
  } else {
    const name = rest[0];
    if (!name) throw new UsageError(`${cmd} needs a runtime name`);
    if (rest.length > 1) throw new UsageError(`${cmd} takes one runtime name; unexpected: ${rest.slice(1).join(' ')}`);
    req = { command: cmd as keyof typeof MUTATIONS, name };
  }
  let answer;
  try {
    answer = await askAgent(config.controlSocket, req);
  } catch (e) {
    if (e instanceof AgentUnreachable && e.notRunning && cmd === 'state' && fs.existsSync(config.stateFile)) {
      // Read-only fallback: the file is the truth of desired state even while the agent is down.
      const state = readStateFile(config.stateFile);
      process.stderr.write(`(agent not running: read ${config.stateFile})\n`);
      process.stdout.write(json ? `${JSON.stringify({ state }, null, 2)}\n` : renderState(state));
      return EXIT.ok;
    }
    throw e;
  }
  if (!answer.success) {
    if (json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    process.stderr.write(`error: ${answer.error}\n`);
    return EXIT.failed;
  }
  const { success: _s, ...body } = answer;
  if (json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  if (cmd === 'health') {
    const h = answer as unknown as { healthy: boolean; problems: string[] };
    if (!json) process.stdout.write(h.healthy ? 'healthy\n' : `unhealthy: ${h.problems.join('; ')}\n`);
    return h.healthy ? EXIT.ok : EXIT.failed;
  }
  if (json) return EXIT.ok;
  if (cmd === 'state') process.stdout.write(renderState(stateSchema.parse(answer.state)));
  else if (cmd === 'plan') process.stdout.write(renderPlan(answer.steps as PlanStep[]));
  else if (req.command === 'apply') {
    const name = (req.runtime as { container_name?: unknown } | null)?.container_name;
    process.stdout.write(`${typeof name === 'string' ? name : 'runtime'}: ${typeof answer.result === 'string' ? answer.result : 'done'}\n`);
  } else process.stdout.write(`${rest[0]}: ${MUTATIONS[cmd as keyof typeof MUTATIONS]}\n`);
  return EXIT.ok;
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
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === 'version' || cmd === '--version') {
    const { VERSION, COMMIT } = await import('./version.js');
    process.stdout.write(`orchestrator-agent ${VERSION} (commit ${COMMIT})\n`);
    return 0;
  }
  const config = loadConfig();
  if (cmd === 'run') {
    await runAgent(config);
    return -1; // keeps running
  }
  if (cmd === 'update-agent') {
    const { runUpdater } = await import('./update/updater.js');
    const { createLogger } = await import('./log.js');
    return runUpdater(config, createLogger(config.logLevel, { component: 'updater' }));
  }
  if (cmd === 'doctor') {
    const { doctor, renderChecks } = await import('./cli/doctor.js');
    const checks = await doctor(config);
    process.stdout.write(args.includes('--json') ? `${JSON.stringify({ checks }, null, 2)}\n` : renderChecks(checks));
    return checks.some((c) => c.level === 'FAIL') ? EXIT.failed : EXIT.ok;
  }
  if (cmd === 'logs') {
    const { parseLogsArgs, showLogs } = await import('./cli/logs.js');
    return showLogs(config, parseLogsArgs(args));
  }
  if (cmd === 'support-bundle') {
    const { parseBundleArgs, supportBundle } = await import('./cli/support-bundle.js');
    const { file, errors } = await supportBundle(config, parseBundleArgs(args).output);
    process.stdout.write(`${file}\n`);
    if (errors.length > 0) process.stderr.write(`(incomplete: ${errors.length} part(s) missing or cut, see errors.txt in the bundle)\n`);
    return EXIT.ok;
  }
  if (['state', 'plan', 'health', 'apply', ...Object.keys(MUTATIONS)].includes(cmd)) return operator(config, cmd, args);
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
    // Expected conditions get one clear line, not a stack trace.
    const input = e instanceof UsageError || e instanceof InputError;
    const known = input || e instanceof CommandFailed || e instanceof ConfigError || e instanceof CredentialsError || e instanceof DataDirLockedError || e instanceof AgentUnreachable;
    process.stderr.write(`orchestrator-agent: ${known ? (e).message : ((e as Error).stack ?? String(e))}\n`);
    if (e instanceof UsageError) process.stderr.write(USAGE);
    process.exitCode = input ? EXIT.usage : e instanceof AgentUnreachable && e.notRunning ? EXIT.agentNotRunning : EXIT.failed;
  },
);
