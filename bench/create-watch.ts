// One runtime's create as the create benches time it: when the store first says Running and when the
// engine's start event arrived, from listeners set before the desired state is written.
import type Docker from 'dockerode';
import { performance } from 'node:perf_hooks';
import type { Store } from '../src/store/store.js';

export interface CreateWatch {
  /** performance.now() when the status first said Running; 0 until then. */
  runningAt: number;
  /** performance.now() of Docker's start event; 0 until then. */
  startedAt: number;
  stop(): void;
}

export async function watchCreate(store: Store, docker: Docker, name: string): Promise<CreateWatch> {
  const w: CreateWatch = { runningAt: 0, startedAt: 0, stop: () => undefined };
  const onChange = () => {
    if (w.runningAt === 0 && store.state.runtimes[name]?.status.phase === 'Running') w.runningAt = performance.now();
  };
  store.on('change', onChange);
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['start'], container: [name] } });
  events.on('data', () => (w.startedAt ||= performance.now()));
  w.stop = () => {
    store.off('change', onChange);
    (events as unknown as { destroy(): void }).destroy();
  };
  return w;
}
