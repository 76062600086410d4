// `orchestrator-agent support-bundle [-o FILE]`: one tar.gz with what support asks for first (issue #23):
// doctor, state, plan, the agent's and netmon's recent logs, `docker inspect` of every labelled object,
// netmon's host facts and the versions. Secrets are redacted (redact.ts), every part is capped and the
// whole bundle too, each Docker call has a timeout; what cannot be had is named in errors.txt.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.js';
import { dockerFromHost, messageOf } from '../docker/client.js';
import { LABEL } from '../domain/names.js';
import { askAgent } from './control-client.js';
import { doctor } from './doctor.js';
import { redactLogLines, redactText, redactValue } from './redact.js';
import { tarGz, type TarEntry } from './tar.js';
import { UsageError } from './cli-errors.js';

export const BUNDLE_MAX_BYTES = 20 * 1024 * 1024;
const PART_MAX_BYTES = 4 * 1024 * 1024;
/** The agent's own log files: the newest this many bytes. */
const AGENT_LOGS_MAX_BYTES = 8 * 1024 * 1024;
const NETMON_TAIL_LINES = 5000;
const DOCKER_TIMEOUT_MS = 10_000;

export function parseBundleArgs(args: readonly string[]): { output: string | undefined } {
  let output: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-o' || a === '--output') {
      output = args[++i];
      if (!output) throw new UsageError(`${a} needs a file name`);
    } else throw new UsageError(`support-bundle: unexpected argument ${a}`);
  }
  return { output };
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export function defaultBundleName(now = new Date()): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  return `orchestrator-support-${host}-${stamp(now)}.tar.gz`;
}

/** Cut to `max` bytes (the tail for logs: the newest lines matter), with a note saying so. */
function capped(text: string, max: number, keepTail: boolean): string {
  const b = Buffer.from(text);
  if (b.length <= max) return text;
  const note = `[support-bundle: truncated from ${b.length} to ${max} bytes${keepTail ? ', oldest part dropped' : ''}]\n`;
  return keepTail ? note + b.subarray(b.length - max).toString() : b.subarray(0, max).toString() + `\n${note}`;
}

/** Docker's multiplexed log frames (8-byte headers) to text; a TTY container's log is raw. */
function demux(buf: Buffer): string {
  if (buf.length < 8 || buf[0]! > 2 || buf[1] !== 0) return buf.toString();
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString();
}

export async function supportBundle(config: Config, output: string | undefined, now = new Date()): Promise<{ file: string; errors: string[] }> {
  const file = path.resolve(output ?? defaultBundleName(now));
  const dir = path.basename(file).replace(/\.tar\.gz$|\.tgz$/, '').slice(0, 60) || 'orchestrator-support';
  const entries: TarEntry[] = [];
  const errors: string[] = [];
  let total = 0;
  const add = (name: string, text: string, keepTail = false): void => {
    const room = Math.min(PART_MAX_BYTES, BUNDLE_MAX_BYTES - total);
    if (room <= 0) {
      errors.push(`${name}: left out, the bundle reached ${BUNDLE_MAX_BYTES} bytes`);
      return;
    }
    const data = Buffer.from(capped(text, room, keepTail));
    total += data.length;
    entries.push({ name: `${dir}/${name}`, data, mtime: now.getTime() / 1000 });
  };
  const json = (v: unknown) => `${JSON.stringify(redactValue(v), null, 2)}\n`;
  const attempt = async (what: string, fn: () => void | Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${messageOf(e).split('\n')[0]}`);
    }
  };

  const { VERSION, COMMIT } = await import('../version.js');
  const docker = dockerFromHost(config.dockerHost, DOCKER_TIMEOUT_MS);
  const versions: Record<string, unknown> = { agent: VERSION, commit: COMMIT, node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}`, createdAt: now.toISOString() };
  await attempt('docker version', async () => {
    const v = await docker.version();
    versions.docker = { version: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch, kernel: v.KernelVersion };
  });
  add('versions.json', json(versions));

  await attempt('doctor', async () => add('doctor.json', json({ checks: await doctor(config) })));

  // State: the running agent's view, else the file (the desired state is there even with the agent down).
  let state: { host?: unknown } | undefined;
  let agentUp = false;
  await attempt('state (agent)', async () => {
    const a = await askAgent(config.controlSocket, { command: 'state' }, 5000);
    if (!a.success) throw new Error(a.error);
    agentUp = true;
    state = a.state as { host?: unknown };
  });
  if (!state) {
    await attempt('state (file)', () => {
      state = JSON.parse(fs.readFileSync(config.stateFile, 'utf8')) as { host?: unknown };
      errors.push(`state: read from ${config.stateFile} (agent not answering)`);
    });
  }
  if (state) {
    add('state.json', json(state));
    add('netmon-facts.json', json(state.host ?? null));
  }
  if (agentUp) {
    await attempt('plan', async () => {
      const a = await askAgent(config.controlSocket, { command: 'plan' }, 5000);
      if (!a.success) throw new Error(a.error);
      add('plan.json', json(a.steps));
    });
  } else errors.push('plan: left out, the agent is not running');

  // The agent's log files, newest first, up to AGENT_LOGS_MAX_BYTES.
  await attempt('agent logs', () => {
    const logDir = path.join(config.dataDir, 'logs');
    const files = fs
      .readdirSync(logDir)
      .map((n) => ({ n, st: fs.statSync(path.join(logDir, n)) }))
      .filter((f) => f.st.isFile())
      .sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
    let left = AGENT_LOGS_MAX_BYTES;
    for (const f of files) {
      if (left <= 0) {
        errors.push(`logs/${f.n}: left out (older than the newest ${AGENT_LOGS_MAX_BYTES} bytes of logs)`);
        continue;
      }
      const text = fs.readFileSync(path.join(logDir, f.n), 'utf8');
      add(`logs/${f.n}`, capped(redactLogLines(text), left, true), true);
      left -= Buffer.byteLength(text);
    }
  });

  // netmon's recent output, from the engine.
  await attempt('netmon logs', async () => {
    const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL.role}=netmon`] } });
    if (list.length === 0) errors.push(`netmon logs: no container labelled ${LABEL.role}=netmon`);
    for (const c of list) {
      const buf = (await docker.getContainer(c.Id).logs({ stdout: true, stderr: true, follow: false, tail: NETMON_TAIL_LINES }));
      add(`netmon-logs/${(c.Names[0] ?? c.Id).replace(/^\//, '').slice(0, 40)}.log`, redactLogLines(demux(buf)), true);
    }
  });

  // `docker inspect` of every object of the agent's.
  const managed = { filters: { label: [`${LABEL.managed}=true`] } };
  await attempt('docker inspect containers', async () => {
    const list = await docker.listContainers({ all: true, ...managed });
    const out: unknown[] = [];
    for (const c of list) out.push(await docker.getContainer(c.Id).inspect().catch((e: unknown) => ({ Id: c.Id, error: messageOf(e) })));
    add('docker/containers.json', json(out));
  });
  await attempt('docker inspect networks', async () => {
    const list = await docker.listNetworks(managed);
    const out: unknown[] = [];
    for (const n of list) out.push(await docker.getNetwork(n.Id).inspect().catch((e: unknown) => ({ Id: n.Id, error: messageOf(e) })));
    add('docker/networks.json', json(out));
  });
  await attempt('docker inspect volumes', async () => {
    const list = (await docker.listVolumes(managed)).Volumes ?? [];
    const out: unknown[] = [];
    for (const v of list) out.push(await docker.getVolume(v.Name).inspect().catch((e: unknown) => ({ Name: v.Name, error: messageOf(e) })));
    add('docker/volumes.json', json(out));
  });

  // errors.txt is never left out (it says what is missing and why).
  if (errors.length > 0) entries.push({ name: `${dir}/errors.txt`, data: Buffer.from(redactText(`${errors.join('\n')}\n`)), mtime: now.getTime() / 1000 });
  fs.writeFileSync(file, tarGz(entries), { mode: 0o600 });
  return { file, errors };
}
