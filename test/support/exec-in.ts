// Runs a command in a container and returns its exit code and combined output.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

export async function execIn(docker: Docker, c: Docker.Container, cmd: string[]): Promise<{ code: number; out: string }> {
  const e = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  const sink = new PassThrough();
  let out = '';
  sink.on('data', (d: Buffer) => (out += d.toString()));
  docker.modem.demuxStream(stream, sink, sink);
  await new Promise((r) => stream.on('end', r));
  return { code: (await e.inspect()).ExitCode ?? -1, out };
}
