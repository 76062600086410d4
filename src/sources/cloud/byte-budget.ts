// The agent-wide budget of bytes in flight (issue #22): run_command response bodies being read, request
// bodies being built, WebRTC chunk reassembly. Every holder reserves before it allocates and releases
// when the bytes are gone; what does not fit is refused with a message naming the limit, so a burst of
// large answers costs a refusal, never the agent's memory. Two limits: all of the agent
// (ORCH_MAX_INFLIGHT_BYTES) and each session (ORCH_MAX_SESSION_INFLIGHT_BYTES: the cloud link, one
// WebRTC session), so one peer cannot take it all.
import type { Config } from '../../config.js';

export interface Reservation {
  /** Bytes held now. */
  readonly bytes: number;
  /** Holds `n` more; false (and nothing more held) when they do not fit, with the reason in `refusal`. */
  grow(n: number): boolean;
  /** Why the last reserve or grow was refused. */
  readonly refusal: string | null;
  /** Gives everything back; a second call does nothing. */
  release(): void;
}

export class ByteBudget {
  private total = 0;
  private readonly bySession = new Map<string, number>();

  constructor(
    readonly limit: number,
    readonly sessionLimit: number,
  ) {}

  /** Bytes held in all, and by one session. */
  get used(): number {
    return this.total;
  }
  usedBy(session: string): number {
    return this.bySession.get(session) ?? 0;
  }

  /** Why `bytes` more for `session` do not fit now; null when they do. */
  private refuse(session: string, bytes: number): string | null {
    if (this.total + bytes > this.limit) return `(agent): ${bytes} bytes more would exceed ORCH_MAX_INFLIGHT_BYTES=${this.limit} (${this.total} in flight); try again later`;
    const mine = this.usedBy(session);
    if (mine + bytes > this.sessionLimit) return `(agent): ${bytes} bytes more would exceed ORCH_MAX_SESSION_INFLIGHT_BYTES=${this.sessionLimit} for this session (${mine} in flight); try again later`;
    return null;
  }

  private add(session: string, n: number): void {
    this.total += n;
    const mine = this.usedBy(session) + n;
    if (mine === 0) this.bySession.delete(session);
    else this.bySession.set(session, mine);
  }

  /**
   * A reservation of `bytes` for `session` (0 is allowed: grow it as bytes arrive). Check `refusal`: when
   * set, nothing is held. Release it in a `finally`.
   */
  reserve(session: string, bytes: number): Reservation {
    let held = 0;
    let released = false;
    let refusal: string | null = null;
    const grow = (n: number): boolean => {
      if (released) throw new Error('byte budget: grow after release');
      const why = this.refuse(session, n);
      refusal = why;
      if (why !== null) return false;
      this.add(session, n);
      held += n;
      return true;
    };
    grow(bytes);
    return {
      get bytes() {
        return held;
      },
      get refusal() {
        return refusal;
      },
      grow,
      release: () => {
        if (released) return;
        released = true;
        this.add(session, -held);
        held = 0;
      },
    };
  }

  /** Runs `fn` with `bytes` reserved and releases them however it ends; null when they do not fit. */
  async with<T>(session: string, bytes: number, fn: (r: Reservation) => Promise<T>): Promise<{ value: T } | { refusal: string }> {
    const r = this.reserve(session, bytes);
    if (r.refusal !== null) return { refusal: r.refusal };
    try {
      return { value: await fn(r) };
    } finally {
      r.release();
    }
  }
}

const budgets = new WeakMap<Config, ByteBudget>();

/** The one budget of the agent that runs with `config`. */
export function budgetFor(config: Pick<Config, 'maxInflightBytes' | 'maxSessionInflightBytes'>): ByteBudget {
  let b = budgets.get(config as Config);
  if (!b) budgets.set(config as Config, (b = new ByteBudget(config.maxInflightBytes, config.maxSessionInflightBytes)));
  return b;
}
