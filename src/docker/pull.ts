// One image pull to its end, shared by the runtime executor and the agent's self-update: the request
// itself has the call deadline, the progress stream a long one (a slow plant uplink) and is destroyed
// when that passes, so a stalled registry frees its socket.
import type Docker from 'dockerode';
import { withTimeout } from './deadline.js';

const CALL_TIMEOUT_MS = 60_000;
const PULL_TIMEOUT_MS = 15 * 60_000;

/** Pulls `image` through `streams` (a client without a socket timeout: progress may pause); rejects on error or deadline. */
export async function pullToEnd(docker: Docker, streams: Docker, image: string): Promise<void> {
  const stream = await withTimeout(streams.pull(image), CALL_TIMEOUT_MS, `pull ${image}`);
  await withTimeout(
    new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()))),
    PULL_TIMEOUT_MS,
    `pull ${image}`,
    () => (stream as unknown as { destroy?: () => void }).destroy?.(),
  );
}
