// A full garbage collection once the heap has grown since the last one. Why: the agent and netmon
// allocate slowly while idle (a heartbeat, a facts read), and V8 then postpones its major collections for
// tens of minutes; the garbage they carry, and the Buffers it holds, keep VmRSS 3–6 MiB above the live
// set (docs/performance.md, "The idle hour"). One look a minute at heapUsed + external (a /proc read); the
// collections' CPU is inside the idle figures of round 4 there. Both processes' entry points use it, so it
// loads nothing but v8/vm.
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleGc {
  /** Collects if heapUsed + external grew by growthBytes since the last collection; true if it did. */
  check(): boolean;
  readonly collections: number;
  stop(): void;
}

/** V8's gc(): global when node runs with --expose-gc, else taken from a context made with the flag on. */
export function exposeGc(): (() => void) | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return global as () => void;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

const held = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};

export function startIdleGc(opts: { intervalMs?: number; growthBytes?: number } = {}): IdleGc {
  const { intervalMs = 60_000, growthBytes = 1 << 20 } = opts;
  const gc = exposeGc();
  let floor = held();
  let collections = 0;
  const check = () => {
    if (!gc || held() - floor < growthBytes) return false;
    gc();
    collections++;
    floor = held();
    return true;
  };
  const timer = gc ? setInterval(check, intervalMs).unref() : undefined;
  return {
    check,
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
