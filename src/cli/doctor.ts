// `orchestrator-agent doctor`: what an operator checks first on a box. One line per check, OK / WARN /
// FAIL, and for every WARN or FAIL a hint saying what to do (docs/troubleshooting.md has the long form).
// Exit 1 when something the agent cannot work without is broken. Works with the agent down: it reads
// the files and asks the engine itself; the links (netmon, cloud) are the running agent's view.
import fs from 'node:fs';
import net from 'node:net';
import type { Config } from '../config.js';
import { apiVersion, dockerFromHost } from '../docker/client.js';
import { LABEL } from '../domain/names.js';
import type { LinkStatus } from '../sources/control/protocol.js';
import { migrate, NewerSchemaError } from '../store/migrations.js';
import { emptyState, stateSchema, type State } from '../store/schema.js';
import { askAgent, AgentUnreachable } from './control-client.js';
import { certificateCheck } from './doctor-certificate.js';
import { check, type Check, type Level } from './doctor-check.js';
import { clockCheck, hostClockProbe, type ClockProbe } from './doctor-clock.js';
import { cloudReachChecks, type Lookup } from './doctor-cloud-reach.js';
import { dataDirCheck } from './doctor-data-dir.js';
import { HOST_KERNEL, macvlanCheck, vnicParentsCheck, type KernelFiles } from './doctor-host.js';
import { imagesCheck } from './doctor-images.js';

export type { Check, Level } from './doctor-check.js';

/** What doctor asks of the host besides the files and the engine (tests replace them). */
export interface DoctorProbes {
  clock?: ClockProbe;
  lookup?: Lookup;
  kernel?: KernelFiles;
}

/** Free space below which the data dir is a warning, and a failure (state writes, log files). */
const DISK_WARN_BYTES = 256 * 1024 * 1024;
const DISK_FAIL_BYTES = 16 * 1024 * 1024;
/** netmon re-discovers every 30 s: a longer silence while connected is worth a look. */
const NETMON_QUIET_MS = 90_000;

const reachable = (socket: string) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(socket);
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(b < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
const ago = (iso: string, now: number) => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

interface AgentView {
  healthy: boolean;
  problems: string[];
  agent: { id: string; version: string; uptime: number };
  links?: LinkStatus;
}

export async function doctor(config: Config, now = Date.now(), probes: DoctorProbes = {}): Promise<Check[]> {
  const out: Check[] = [];
  const add = (level: Level, what: string, detail: string, hint?: string) => out.push(check(level, what, detail, hint));

  // Data dir: exists and writable (never created here: a mistyped ORCH_DATA_DIR must not read OK), and
  // the free space of its disk (the state file and the log files live there).
  out.push(dataDirCheck(config.dataDir));
  try {
    const st = fs.statfsSync(config.dataDir);
    const free = st.bavail * st.bsize;
    const total = st.blocks * st.bsize;
    const level: Level = free < DISK_FAIL_BYTES ? 'FAIL' : free < DISK_WARN_BYTES ? 'WARN' : 'OK';
    add(level, 'disk', `${mib(free)} free of ${mib(total)} on the data dir's file system`, `free space there (docker image prune, old files); below ${mib(DISK_FAIL_BYTES)} desired-state writes are refused (the agent keeps runtimes running)`);
  } catch (e) {
    add('WARN', 'disk', `free space unknown: ${(e as Error).message}`, 'check the data dir exists and is readable');
  }

  let state: State | null = null;
  if (fs.existsSync(config.stateFile)) {
    try {
      const s = stateSchema.parse(migrate(JSON.parse(fs.readFileSync(config.stateFile, 'utf8'))));
      state = s;
      add('OK', 'state file', `${config.stateFile}: ${Object.keys(s.runtimes).length} runtime(s)`);
    } catch (e) {
      if (e instanceof NewerSchemaError) {
        add('FAIL', 'state file', `${e.message}: the agent refuses every request and changes nothing`, 'upgrade the agent (or restore a state file of this version)');
      } else {
        add('FAIL', 'state file', `${config.stateFile} is not valid (${(e as Error).message.split('\n')[0]!.slice(0, 120)})`, 'the agent starts from state.json.bak and keeps the bad file as state.json.corrupt-<time>; restart it, or restore a backup');
      }
    }
  } else {
    state = emptyState(); // nothing declared yet
    add('WARN', 'state file', `${config.stateFile} does not exist yet`, 'normal before the first start; otherwise ORCH_DATA_DIR does not point at the agent\'s volume');
  }

  out.push(clockCheck(probes.clock ?? hostClockProbe));
  out.push(macvlanCheck(probes.kernel ?? HOST_KERNEL));
  out.push(vnicParentsCheck(state));

  // The agent: its health answer also carries its view of netmon and the cloud.
  let view: AgentView | null = null;
  try {
    const a = await askAgent(config.controlSocket, { command: 'health' }, 5000);
    if (a.success) view = a as unknown as AgentView;
    else add('FAIL', 'agent', `running, but: ${a.error}`, 'see the agent\'s log');
  } catch (e) {
    const notRunning = e instanceof AgentUnreachable && e.notRunning;
    add('FAIL', 'agent', notRunning ? `not running (no ${config.controlSocket})` : (e as Error).message, notRunning ? 'start it: docker start orchestrator_agent (or orchestrator-agent run); why it stopped: docker logs orchestrator_agent, or ORCH_DATA_DIR/logs/agent.*.log' : 'run doctor as root; if the agent hangs, restart it');
  }
  if (view) {
    const v = view.agent;
    if (view.healthy) add('OK', 'agent', `running: ${v.id}, version ${v.version}, up ${v.uptime} s`);
    else add('FAIL', 'agent', `unhealthy: ${view.problems.join('; ')}`, 'see the agent\'s log; a wedged reconciler usually means a stuck Docker engine (restart the engine, then the agent)');
  }

  // The engine: reachable, its API version, and runtimes whose ulimits had to be clamped.
  try {
    const docker = dockerFromHost(config.dockerHost, 10_000);
    const [maj, min] = await apiVersion(docker);
    add('OK', 'docker', `${config.dockerHost}: API ${maj}.${min} (${maj > 1 || min >= 44 ? 'all endpoints at create' : 'one network at create, the rest connected before start'})`);
    const runtimes = await docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`, `${LABEL.role}=runtime`] } });
    const clamped = runtimes.filter((c) => c.Labels?.[LABEL.ulimits]);
    if (clamped.length === 0) add('OK', 'ulimits', `${runtimes.length} runtime container(s), none with clamped ulimits`);
    else {
      const which = clamped.map((c) => `${c.Labels[LABEL.device] ?? c.Names[0]?.slice(1) ?? c.Id.slice(0, 12)} (${c.Labels[LABEL.ulimits]})`).join(', ');
      add('WARN', 'ulimits', `clamped to the host's hard limits: ${which}`, 'real-time scheduling and locked memory are below what the runtime asks; raise the engine\'s limits (LimitRTPRIO=infinity, LimitMEMLOCK=infinity in docker.service), restart the engine, then restart these runtimes');
    }
    // Logs that grow until the disk is full: json-file without max-size (Docker's default driver, unbounded
    // unless daemon.json says otherwise). The agent's own containers and every runtime (issue #23).
    const ours = await docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`] } });
    const unbounded: string[] = [];
    for (const c of ours) {
      const log = (await docker.getContainer(c.Id).inspect().catch(() => null))?.HostConfig.LogConfig;
      if (log?.Type === 'json-file' && !(log.Config as Record<string, string> | undefined)?.['max-size']) unbounded.push(c.Names[0]?.slice(1) ?? c.Id.slice(0, 12));
    }
    if (unbounded.length === 0) add('OK', 'container-logs', `${ours.length} container(s) of the agent's, every log bounded`);
    else add('WARN', 'container-logs', `unbounded json-file logs: ${unbounded.join(', ')}`, 'Docker cannot change a container\'s log settings: a runtime gets ORCH_CONTAINER_LOG when it is next re-created (a new version or spec); re-run install.sh for the agent and netmon; or set log-opts max-size in /etc/docker/daemon.json');
    if (state) out.push(await imagesCheck(docker, state, config.runtimeImage));
  } catch (e) {
    const msg = (e as Error).message;
    add('FAIL', 'docker', `${config.dockerHost}: ${msg}`, /ENOENT|ECONNREFUSED/.test(msg) ? 'the engine is not running or DOCKER_HOST is wrong: systemctl start docker; the agent\'s container needs -v /var/run/docker.sock:/var/run/docker.sock' : /EACCES/.test(msg) ? 'permission denied on the engine\'s socket: run as root (or in the docker group)' : 'check DOCKER_HOST and that `docker version` answers');
  }

  // netmon: the running agent says whether it is connected and when netmon last reported.
  const nm = view?.links?.netmon;
  const netmonHint = 'start the sidecar: docker start autonomy_netmon (--network=host --pid=host --privileged); without it subnets cannot follow the host and MACs cannot be fixed';
  if (nm) {
    if (!nm.connected) add('FAIL', 'netmon', `the agent is not connected to ${nm.socket}${nm.lastReportAt ? ` (last report ${ago(nm.lastReportAt, now)})` : ' (no report since the agent started)'}`, netmonHint);
    else if (!nm.lastReportAt) add('WARN', 'netmon', `connected since ${nm.connectedSince}, no report yet`, 'netmon reports within seconds of a connection; if it stays silent, restart it: docker restart autonomy_netmon');
    else {
      const quiet = now - Date.parse(nm.lastReportAt) > NETMON_QUIET_MS;
      add(quiet ? 'WARN' : 'OK', 'netmon', `connected since ${nm.connectedSince}; last report ${ago(nm.lastReportAt, now)} (${nm.eventsSeen} event(s))`, 'netmon re-discovers every 30 s; a silent one is stuck: docker restart autonomy_netmon');
    }
  } else {
    const up = await reachable(config.netmonSocket);
    if (up) add(view ? 'OK' : 'WARN', 'netmon', `answering on ${config.netmonSocket}${view ? '' : ' (its last report is known only to a running agent)'}`, 'start the agent to see netmon\'s last report');
    else add('FAIL', 'netmon', `no netmon on ${config.netmonSocket}`, netmonHint);
  }

  // The certificate (needed unless standalone), the cloud link as the running agent sees it, and whether
  // the cloud's name resolves and its port answers from here now.
  if (config.cloudUrl === null) {
    add('OK', 'certificate', 'not needed (standalone: ORCH_CLOUD_URL=off)');
    add('OK', 'cloud', 'standalone (ORCH_CLOUD_URL=off)');
  } else await cloudChecks(config, config.cloudUrl, view, now, probes, out);
  // The agent's disk guard: the Docker data root (which only the agent and netmon can measure) and the data dir.
  const dp = view?.links?.disk;
  if (dp) {
    const removed = dp.imagesRemoved > 0 ? `; ${dp.imagesRemoved} unused image(s) removed for space since the agent started` : '';
    if (dp.status === 'True') add('WARN', 'disk-pressure', `${dp.reason}: ${dp.message}${removed}`, 'the agent removed what images it could and keeps every runtime running; pulls that would not fit are refused (ImageReady=False DiskPressure). Free space: images and files the agent does not own, old logs');
    else if (dp.status === 'Unknown') add('WARN', 'disk-pressure', dp.message, 'netmon measures the Docker data root for an agent in a container: start the sidecar');
    else add('OK', 'disk-pressure', `${dp.message}${removed}`);
  }
  return out;
}

/** The certificate, its renewal, the cloud link (the running agent's view), DNS and TCP to the cloud. */
async function cloudChecks(config: Config, cloudUrl: string, view: AgentView | null, now: number, probes: DoctorProbes, out: Check[]): Promise<void> {
  const add = (level: Level, what: string, detail: string, hint?: string) => out.push(check(level, what, detail, hint));
  const cert = certificateCheck({ mtlsDir: config.mtlsDir, renewedMtlsDir: config.renewedMtlsDir, renewal: config.enrollUrl !== null }, now);
  const expired = cert.expired;
  out.push(cert.check);
  const rn = view?.links?.renewal;
  if (!config.enrollUrl) add('OK', 'certificate renewal', 'off (ORCH_ENROLL_URL unset): a new certificate only by enrolling again');
  else if (!view) add('WARN', 'certificate renewal', `${config.enrollUrl}: state unknown (agent not running)`, 'start the agent');
  else if (!rn) add('WARN', 'certificate renewal', `${config.enrollUrl}: not running (the agent has no usable certificate)`, 'fix the certificate, then restart the agent');
  else if (rn.failures > 0) add(expired ? 'FAIL' : 'WARN', 'certificate renewal', `${rn.enrollUrl}: failing (${rn.failures} attempt(s)); ${rn.lastError} (${rn.lastErrorAt ? ago(rn.lastErrorAt, now) : 'time unknown'}); next attempt ${rn.nextAttemptAt ?? 'none'}`, 'check the enrollment server is reachable from the box and accepts a renewal over mutual TLS (docs/security.md); the link keeps the current certificate until it expires, runtimes keep running');
  else add('OK', 'certificate renewal', `${rn.enrollUrl}: next renewal ${rn.nextAttemptAt ?? 'none'}${rn.renewedAt ? `; renewed ${ago(rn.renewedAt, now)}` : ''}`);
  const cl = view?.links?.cloud;
  if (!view) add('WARN', 'cloud', `${cloudUrl}: link state unknown (agent not running)`, 'start the agent');
  else if (!cl) add('WARN', 'cloud', `${cloudUrl}: no link (the agent has no usable certificate)`, 'fix the certificate, then restart the agent');
  else if (cl.connected) add('OK', 'cloud', `${cl.url}: connected since ${cl.connectedSince}`);
  else if (cl.lastError) add('FAIL', 'cloud', `${cl.url}: not connected; ${cl.lastError} (${cl.lastErrorAt ? ago(cl.lastErrorAt, now) : 'time unknown'})`, 'check DNS and outbound TCP to the cloud\'s port (a firewall, a proxy), the clock (TLS needs it) and the certificate; the agent retries by itself');
  else add('WARN', 'cloud', `${cl.url}: connecting (no answer yet)`, 'run doctor again in a minute');
  out.push(...(await cloudReachChecks(cloudUrl, probes.lookup)));
}

/** The table a person reads: level, check, detail, and the hint on the next line. */
export function renderChecks(checks: readonly Check[]): string {
  const w = Math.max(...checks.map((c) => c.what.length));
  return checks.map((c) => `${c.level.padEnd(4)}  ${c.what.padEnd(w)}  ${c.detail}\n${c.hint ? `${' '.repeat(w + 8)}hint: ${c.hint}\n` : ''}`).join('');
}
