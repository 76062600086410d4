// runtime_status (CONTRACT §3 extension): pushed when a runtime's phase or a condition changes, volatile.
// A phase change goes out at once; changes of conditions alone at most once per runtime per second.
import { monoNow } from '../../clock.js';
import type { Socket } from 'socket.io-client';
import type { RuntimeRecord } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { sendEvent } from './outgoing.js';

const MIN_GAP_MS = 1000;

const fingerprint = (r: RuntimeRecord) => JSON.stringify([r.status.phase, r.status.observedGeneration, r.status.conditions.map((c) => [c.type, c.status, c.reason])]);

export class StatusPush {
  private readonly sent = new Map<string, { fp: string; phase: string; at: number }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private socket: Socket | null = null;
  private readonly onChange = () => this.scan();

  constructor(
    private readonly store: Store,
    private readonly agentId: string,
    /** Monotonic ms (the hold is a duration); tests pass their mocked clock. */
    private readonly now: () => number = monoNow,
  ) {}

  attach(socket: Socket): () => void {
    this.socket = socket;
    this.store.on('change', this.onChange);
    return () => {
      this.store.off('change', this.onChange);
      this.socket = null;
      for (const t of this.timers.values()) clearTimeout(t);
      this.timers.clear();
    };
  }

  private scan(): void {
    for (const [name, r] of Object.entries(this.store.state.runtimes)) {
      const fp = fingerprint(r);
      const last = this.sent.get(name);
      if (last?.fp === fp) continue;
      if (last && last.phase !== r.status.phase) {
        // A phase change supersedes a held push of conditions: sent now, with the latest state.
        const held = this.timers.get(name);
        if (held) clearTimeout(held);
        this.timers.delete(name);
        this.send(name);
        continue;
      }
      if (this.timers.has(name)) continue;
      const wait = last ? Math.max(0, last.at + MIN_GAP_MS - this.now()) : 0;
      if (wait === 0) this.send(name);
      else this.timers.set(name, setTimeout(() => (this.timers.delete(name), this.send(name)), wait));
    }
  }

  private send(name: string): void {
    const r = this.store.state.runtimes[name];
    if (!r || !this.socket?.connected) return;
    this.sent.set(name, { fp: fingerprint(r), phase: r.status.phase, at: this.now() });
    sendEvent(this.socket, 'runtime_status', {
      agent_id: this.agentId,
      device_id: name,
      phase: r.status.phase,
      observed_generation: r.status.observedGeneration,
      conditions: r.status.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, last_transition_time: c.lastTransitionTime })),
      timestamp: new Date().toISOString(),
    }, { volatile: true });
  }
}
