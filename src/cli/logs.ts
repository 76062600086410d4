// `orchestrator-agent logs NAME | --agent | --netmon [-f] [--tail N|all] [--since WHEN]`: a runtime
// container's or netmon's output read from the engine, or the agent's own files ($ORCH_DATA_DIR/logs/
// agent.<n>.log). Reads, not mutations: no need for the agent, which may be the thing that is down.
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Config } from '../config.js';
import { dockerFromHost, messageOf, statusOf } from '../docker/client.js';
import { LABEL } from '../domain/names.js';
import { parseCommand } from './args.js';
import { CommandFailed, UsageError } from './cli-errors.js';

export type LogsTarget = { kind: 'runtime'; name: string } | { kind: 'agent' } | { kind: 'netmon' };

export interface LogsArgs {
  target: LogsTarget;
  follow: boolean;
  /** Lines from the end; undefined = all. */
  tail: number | undefined;
  /** Only lines from this time on, epoch seconds; undefined = all. */
  since: number | undefined;
}

export const LOGS_OPTIONS = {
  follow: { type: 'boolean', short: 'f' },
  tail: { type: 'string', short: 'n' },
  since: { type: 'string' },
  agent: { type: 'boolean' },
  netmon: { type: 'boolean' },
} as const;

const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `--since`: a duration back from now (`90s`, `10m`, `1h30m`, `2d`), an ISO 8601 time, or epoch seconds. */
export function parseSince(v: string, nowMs = Date.now()): number {
  if (/^(\d+(\.\d+)?[smhd])+$/.test(v)) {
    let s = 0;
    for (const [, n, u] of v.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) s += Number(n) * UNIT_S[u!]!;
    return Math.floor(nowMs / 1000 - s);
  }
  if (/^\d{1,12}$/.test(v)) return Number(v);
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`logs: --since needs a duration (10m, 1h30m, 2d), an ISO 8601 time or epoch seconds, got ${JSON.stringify(v)}`);
  return Math.floor(t / 1000);
}

export function parseLogsArgs(args: readonly string[], nowMs = Date.now()): LogsArgs {
  const { values: o, positionals } = parseCommand('logs', args, LOGS_OPTIONS, { max: 1, what: 'runtime name' });
  const name = positionals[0];
  if ([name !== undefined, o.agent === true, o.netmon === true].filter(Boolean).length > 1) throw new UsageError('logs takes one of a runtime name, --agent or --netmon');
  const target: LogsTarget = o.agent ? { kind: 'agent' } : o.netmon ? { kind: 'netmon' } : name !== undefined ? { kind: 'runtime', name } : (() => {
    throw new UsageError('logs needs a runtime name (or --agent, --netmon)');
  })();
  let tail: number | undefined;
  if (o.tail !== undefined && o.tail !== 'all') {
    if (!/^\d+$/.test(o.tail)) throw new UsageError(`logs: --tail needs a number of lines or all, got ${JSON.stringify(o.tail)}`);
    tail = Number(o.tail);
  }
  return { target, follow: o.follow === true, tail, since: o.since === undefined ? undefined : parseSince(o.since, nowMs) };
}

/** Docker's multiplexed log format: 8-byte frame headers (stream 1 stdout, 2 stderr, then a length). */
export function demuxFrames(buf: Buffer, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    (buf[i] === 2 ? err : out).write(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
}

/** Resolves on SIGINT (Ctrl-C ends a follow quietly, exit 0). */
const interrupted = () => new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));

export async function showLogs(config: Pick<Config, 'dockerHost' | 'dataDir'>, a: LogsArgs, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (a.target.kind === 'agent') return showAgentFiles(path.join(config.dataDir, 'logs'), a, out);
  let docker: Docker;
  try {
    // No call timeout: a followed stream is idle by nature.
    docker = dockerFromHost(config.dockerHost);
  } catch {
    throw new CommandFailed(`DOCKER_HOST: expected unix:///path or tcp://host:port, got ${JSON.stringify(config.dockerHost.slice(0, 64))}`);
  }
  const id = a.target.kind === 'netmon' ? await netmonContainer(docker, config.dockerHost) : a.target.name;
  const c = docker.getContainer(id);
  let tty: boolean;
  try {
    const info = await c.inspect();
    if (a.target.kind === 'runtime' && info.Config.Labels?.[LABEL.role] !== 'runtime') throw new CommandFailed(`${id} is not a runtime container of this agent`);
    tty = info.Config.Tty;
  } catch (e) {
    if (e instanceof CommandFailed) throw e;
    if (statusOf(e) === 404) throw new CommandFailed(`no runtime container ${id}`);
    throw new CommandFailed(`${config.dockerHost}: cannot read ${id}: ${messageOf(e).split('\n')[0]}`);
  }
  const opts = { stdout: true, stderr: true, ...(a.tail !== undefined ? { tail: a.tail } : {}), ...(a.since !== undefined ? { since: a.since } : {}) };
  if (!a.follow) {
    const buf = await c.logs({ ...opts, follow: false });
    if (tty) out.write(buf);
    else demuxFrames(buf, out, err);
    return 0;
  }
  const stream = await c.logs({ ...opts, follow: true });
  if (tty) stream.pipe(out, { end: false });
  else docker.modem.demuxStream(stream, out, err);
  // Until the container stops (the engine ends the stream) or the operator interrupts.
  await Promise.race([
    new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', resolve);
    }),
    interrupted().then(() => (stream as unknown as { destroy?: () => void }).destroy?.()),
  ]);
  return 0;
}

/** netmon's container: the one labelled edge.autonomy.role=netmon (the installer's autonomy_netmon). */
async function netmonContainer(docker: Docker, host: string): Promise<string> {
  let list;
  try {
    list = await docker.listContainers({ all: true, filters: { label: [`${LABEL.role}=netmon`] } });
  } catch (e) {
    throw new CommandFailed(`${host}: cannot list containers: ${messageOf(e).split('\n')[0]}`);
  }
  if (list.length === 0) throw new CommandFailed(`no netmon container (labelled ${LABEL.role}=netmon) on ${host}`);
  return list[0]!.Id;
}

/** The agent's files oldest first (`agent.<n>.log`, n growing). */
export function agentLogFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new CommandFailed(`${dir}: cannot read the agent's log files: ${code ?? (e as Error).message}`);
  }
  return names
    .flatMap((f) => {
      const m = /^agent\.(\d+)\.log$/.exec(f);
      return m ? [[Number(m[1]), path.join(dir, f)] as const] : [];
    })
    .sort((x, y) => x[0] - y[0])
    .map(([, f]) => f);
}

/** A pino line's `time` (epoch ms), or undefined for a line that is not one. */
function lineTime(line: string): number | undefined {
  const m = /"time":(\d{10,})/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** Lines of the agent's files: --since by each line's `time`, then --tail; -f polls the newest file. */
export async function showAgentFiles(dir: string, a: Pick<LogsArgs, 'since' | 'tail' | 'follow'>, out: NodeJS.WritableStream, pollMs = 500): Promise<number> {
  const files = agentLogFiles(dir);
  if (files.length === 0 && !a.follow) throw new CommandFailed(`no agent log files in ${dir} (agent.<n>.log; is ORCH_DATA_DIR the agent's data dir?)`);
  const keep = (l: string) => {
    if (a.since === undefined) return true;
    const t = lineTime(l);
    return t === undefined || t >= a.since * 1000;
  };
  let lines: string[] = [];
  for (const f of files) lines.push(...fs.readFileSync(f, 'utf8').split('\n').filter((l) => l !== '' && keep(l)));
  if (a.tail !== undefined) lines = a.tail === 0 ? [] : lines.slice(-a.tail);
  if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
  if (!a.follow) return 0;
  let file = files.at(-1);
  let offset = file ? fs.statSync(file).size : 0;
  let stop = false;
  void interrupted().then(() => (stop = true));
  while (!stop) {
    await new Promise((r) => setTimeout(r, pollMs));
    const newest = agentLogFiles(dir).at(-1);
    for (const f of newest !== undefined && newest !== file ? [file, newest] : [file]) {
      if (f === undefined) continue;
      if (f !== file) [file, offset] = [f, 0];
      let size: number;
      try {
        size = fs.statSync(f).size;
      } catch {
        continue; // rotated away
      }
      if (size < offset) offset = 0;
      if (size === offset) continue;
      const fd = fs.openSync(f, 'r');
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      fs.closeSync(fd);
      offset = size;
      out.write(buf);
    }
  }
  return 0;
}
