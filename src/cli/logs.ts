// `orchestrator-agent logs NAME [-f] [--tail N]`: the runtime container's own output, read from the
// engine directly (a read, not a mutation: no need for the agent, which may be the thing that is down).
import type Docker from 'dockerode';
import type { Config } from '../config.js';
import { dockerFromHost, messageOf, statusOf } from '../docker/client.js';
import { LABEL } from '../domain/names.js';
import { CommandFailed, UsageError } from './cli-errors.js';

export interface LogsArgs {
  name: string;
  follow: boolean;
  /** Lines from the end; undefined = all. */
  tail: number | undefined;
}

export function parseLogsArgs(args: readonly string[]): LogsArgs {
  let name: string | undefined;
  let follow = false;
  let tail: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-f' || a === '--follow') follow = true;
    else if (a === '--tail' || a === '-n' || a.startsWith('--tail=')) {
      const v = a.startsWith('--tail=') ? a.slice('--tail='.length) : args[++i];
      if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`--tail needs a number of lines, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
      tail = Number(v);
    } else if (a.startsWith('-')) throw new UsageError(`logs: unknown option ${a}`);
    else if (name === undefined) name = a;
    else throw new UsageError(`logs takes one runtime name; unexpected: ${a}`);
  }
  if (name === undefined) throw new UsageError('logs needs a runtime name');
  return { name, follow, tail };
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

export async function showLogs(config: Config, a: LogsArgs, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  // No call timeout: a followed stream is idle by nature.
  const docker: Docker = dockerFromHost(config.dockerHost);
  const c = docker.getContainer(a.name);
  let tty: boolean;
  try {
    const info = await c.inspect();
    if (info.Config.Labels?.[LABEL.role] !== 'runtime') throw new CommandFailed(`${a.name} is not a runtime container of this agent`);
    tty = info.Config.Tty;
  } catch (e) {
    if (e instanceof CommandFailed) throw e;
    if (statusOf(e) === 404) throw new CommandFailed(`no runtime container ${a.name}`);
    throw new CommandFailed(`${config.dockerHost}: cannot read ${a.name}: ${messageOf(e).split('\n')[0]}`);
  }
  const opts = { stdout: true, stderr: true, ...(a.tail !== undefined ? { tail: a.tail } : {}) };
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
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', resolve);
    process.once('SIGINT', () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      resolve();
    });
  });
  return 0;
}
