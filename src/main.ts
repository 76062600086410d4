#!/usr/bin/env node
// Entry point: `run` (the agent), and the operator commands that talk to it through agent.sock.
import fs from 'node:fs';
import { applyFileArg, readApplyPayload } from './cli/apply-input.js';
import { InputError, UsageError } from './cli/cli-errors.js';
import { askAgent, AgentUnreachable } from './cli/control-client.js';
import { renderState } from './cli/state-table.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import type { ControlRequest } from './sources/control/protocol.js';
import { stateSchema } from './store/schema.js';
import { DataDirLockedError } from './store/data-dir-lock.js';
import { CredentialsError } from './sources/cloud/credentials.js';
import { firstIssueMessage } from './domain/validation-error.js';

const USAGE = `usage: orchestrator-agent <command>
  run                         start the agent
  netmon                      start the network monitor sidecar
  state [--json]              desired vs observed state of every runtime
  plan [--json]               the steps the reconciler would take now (nothing is done)
  health                      exit 0 when healthy (Docker HEALTHCHECK), 1 with the reasons when not
  doctor                      check data dir, state file, Docker, netmon, certificate; exit 1 on a failure
  apply [-f] <file.json|->    declare a runtime (a create_new_runtime payload; - reads stdin)
  delete|start|stop|restart <name>
`;

// Each sub-command loads only what it runs: the netmon sidecar never loads dockerode, socket.io or
// systeminformation (memory, CONTRACT-free but measured in docs/performance.md).
async function runAgent(config: Config): Promise<void> {
  const { Agent } = await import('./agent.js');
  // stdout, and $ORCH_DATA_DIR/logs/agent.<n>.log (rotated, capped; a full disk never stops the agent).
  const { createAgentLogger } = await import('./log-files.js');
  const { log, files } = await createAgentLogger(config.logLevel, config.dataDir);
  const agent = new Agent(config, log);
  await agent.start();
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
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

async function runNetmon(config: Config): Promise<void> {
  const { NetmonDaemon } = await import('./netmon/daemon.js');
  const log = createLogger(config.logLevel, { component: 'netmon' });
  const daemon = new NetmonDaemon(config.netmonSocket, config.netmonDebounceMs, log);
  await daemon.start();
  const stop = () => void daemon.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function operator(config: Config, cmd: string, args: string[]): Promise<number> {
  const json = args.includes('--json');
  let req: ControlRequest;
  if (cmd === 'state' || cmd === 'plan' || cmd === 'health') req = { command: cmd };
  else if (cmd === 'apply') {
    req = { command: 'apply', runtime: readApplyPayload(applyFileArg(args)) };
  } else {
    const name = args[0];
    if (!name) throw new UsageError(`${cmd} needs a runtime name`);
    req = { command: cmd as 'delete' | 'start' | 'stop' | 'restart', name };
  }
  let answer;
  try {
    answer = await askAgent(config.controlSocket, req);
  } catch (e) {
    if (e instanceof AgentUnreachable && cmd === 'state' && fs.existsSync(config.stateFile)) {
      // Read-only fallback: the file is the truth of desired state even while the agent is down.
      const state = readStateFile(config.stateFile);
      process.stderr.write(`(agent not running: read ${config.stateFile})\n`);
      process.stdout.write(json ? `${JSON.stringify(state, null, 2)}\n` : renderState(state));
      return 0;
    }
    throw e;
  }
  if (!answer.success) {
    process.stderr.write(`error: ${answer.error}\n`);
    return 1;
  }
  if (cmd === 'health') {
    const h = answer as unknown as { healthy: boolean; problems: string[] };
    process.stdout.write(h.healthy ? 'healthy\n' : `unhealthy: ${h.problems.join('; ')}\n`);
    return h.healthy ? 0 : 1;
  }
  if (json || (cmd !== 'state' && cmd !== 'plan')) {
    const { success: _s, ...rest } = answer;
    process.stdout.write(`${JSON.stringify(cmd === 'state' ? rest : rest, null, 2)}\n`);
  } else if (cmd === 'state') {
    process.stdout.write(renderState(stateSchema.parse(answer.state)));
  } else {
    const steps = answer.steps as { device: string | null; action: string; reason: string }[];
    process.stdout.write(steps.length === 0 ? 'nothing to do: converged\n' : steps.map((s) => `${s.device ?? '-'}\t${s.action}\t${s.reason}`).join('\n') + '\n');
  }
  return 0;
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
  const config = loadConfig();
  if (cmd === 'run') {
    await runAgent(config);
    return -1; // keeps running
  }
  if (cmd === 'doctor') {
    const { doctor } = await import('./cli/doctor.js');
    const checks = await doctor(config);
    for (const c of checks) process.stdout.write(`${c.level.padEnd(4)}  ${c.what.padEnd(11)}  ${c.detail}\n`);
    return checks.some((c) => c.level === 'FAIL') ? 1 : 0;
  }
  if (cmd === 'netmon') {
    await runNetmon(config);
    return -1;
  }
  if (['state', 'plan', 'health', 'apply', 'delete', 'start', 'stop', 'restart'].includes(cmd)) return operator(config, cmd, args);
  throw new UsageError(`unknown command "${cmd}"`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    // Expected conditions get one clear line, not a stack trace.
    const input = e instanceof UsageError || e instanceof InputError;
    const known = input || e instanceof ConfigError || e instanceof CredentialsError || e instanceof DataDirLockedError || e instanceof AgentUnreachable;
    process.stderr.write(`orchestrator-agent: ${known ? (e).message : ((e as Error).stack ?? String(e))}\n`);
    if (e instanceof UsageError) process.stderr.write(USAGE);
    // 2: the operator's command line or input is wrong; 1: everything else.
    process.exitCode = input ? 2 : 1;
  },
);
