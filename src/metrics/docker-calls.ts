// Docker call latency for /metrics (issue #23): every request through a dockerode instance's modem, timed
// from the request to its response (for a stream such as events or logs: to its headers), in one
// histogram per operation. The operation is the method and the path with names and ids replaced by
// `{id}` (`GET /containers/{id}/json`), so the label set is bounded by the API the agent uses, never by
// the containers on the box.
import type { Docker } from '../docker/dockerode.js';
import { Histogram, type Labels } from './exposition.js';

/** Seconds; a call to a local engine takes milliseconds, a pull or a stop tens of seconds. */
export const DOCKER_CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Second path segments that name an operation on the collection, not an object (`/containers/json`). */
const COLLECTION_OPS = new Set(['json', 'create', 'prune', 'df', 'load', 'search', 'get', 'events', 'version', 'info']);

/** `GET /v1.41/containers/plc-1/json?all=1` → `GET /containers/{id}/json`; image names may hold slashes. */
export function operationOf(method: string, path: string): string {
  const segs = path.split('?')[0]!.split('/').filter((s) => s !== '');
  if (segs[0] && /^v\d+\.\d+$/.test(segs[0])) segs.shift();
  let shape: string[];
  if (segs.length <= 1) shape = segs;
  else if (segs.length === 2) shape = [segs[0]!, COLLECTION_OPS.has(segs[1]!) ? segs[1]! : '{id}'];
  else shape = [segs[0]!, '{id}', segs.at(-1)!];
  return `${method.toUpperCase()} /${shape.join('/')}`;
}

type Dial = (options: { method?: string; path?: string }, callback?: (err: unknown, ...rest: unknown[]) => void) => unknown;

export class DockerCallLatency {
  readonly byOperation = new Map<string, { ok: Histogram; error: Histogram }>();

  /** Times every request `docker` makes from now on. */
  instrument(docker: Docker): void {
    const modem = docker.modem as unknown as { dial: Dial };
    const dial = modem.dial.bind(modem);
    modem.dial = (options, callback) => {
      const op = operationOf(options.method ?? 'GET', options.path ?? '');
      const t0 = process.hrtime.bigint();
      let seen = false; // a request that errs after its response must not count twice
      const done = (err: unknown) => {
        if (!seen) this.observe(op, err ? 'error' : 'ok', Number(process.hrtime.bigint() - t0) / 1e9);
        seen = true;
      };
      if (!callback) return dial(options, callback);
      return dial(options, (err, ...rest) => {
        done(err);
        callback(err, ...rest);
      });
    };
  }

  observe(operation: string, result: 'ok' | 'error', seconds: number): void {
    let h = this.byOperation.get(operation);
    if (!h) this.byOperation.set(operation, (h = { ok: new Histogram(DOCKER_CALL_BUCKETS), error: new Histogram(DOCKER_CALL_BUCKETS) }));
    h[result].observe(seconds);
  }

  /** One series per operation and result that has been seen at least once. */
  series(): { labels: Labels; histogram: Histogram }[] {
    return [...this.byOperation].flatMap(([operation, h]) =>
      (['ok', 'error'] as const).filter((r) => h[r].count > 0).map((result) => ({ labels: { operation, result }, histogram: h[result] })),
    );
  }
}
