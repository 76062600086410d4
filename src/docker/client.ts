// dockerode from DOCKER_HOST, never pinned to an API version (the engine's own is used; CONTRACT §7).
import { Docker } from './dockerode.js';

/**
 * `timeoutMs`: no answer (socket idle) for that long fails the call, so a wedged engine cannot hang a step
 * or a query for ever. Leave it out for streams that are idle by nature (events, pull progress).
 */
export function dockerFromHost(dockerHost: string, timeoutMs?: number): Docker {
  const t = timeoutMs !== undefined ? { timeout: timeoutMs } : {};
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length), ...t });
  const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: u.hostname, port: Number(u.port || 2375), protocol: 'http', ...t });
}

/** The engine's API version as [major, minor]. */
export async function apiVersion(docker: Docker): Promise<[number, number]> {
  const v = await docker.version();
  const [maj, min] = v.ApiVersion.split('.').map(Number);
  return [maj ?? 1, min ?? 0];
}

export const atLeast = (v: [number, number], major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor);

/** HTTP status of a dockerode error, if any. */
export const statusOf = (e: unknown): number | undefined => (e as { statusCode?: number }).statusCode;

/** The engine's message of a dockerode error, without the library's prefix. */
export function messageOf(e: unknown): string {
  const json = (e as { json?: { message?: string } }).json;
  if (json?.message) return json.message;
  return (e as Error).message ?? String(e);
}
