// Runtime ulimits (CONTRACT §7): rtprio 99 and unlimited memlock where the host allows them; a host that
// refuses to raise a hard limit gets its own hard limit instead, said in ContainerReady and the log.
import fs from 'node:fs';

export interface Ulimits {
  rtprio: number;
  memlock: number; // bytes, -1 = unlimited
}

export const WANTED_ULIMITS: Ulimits = { rtprio: 99, memlock: -1 };

/** runc's refusal: `error setting rlimit type 14: operation not permitted`. */
export const isRlimitRefusal = (message: string) => /setting rlimit/i.test(message);

/** This host's hard limits, read from /proc/self/limits. */
export function hostHardUlimits(limitsText = fs.readFileSync('/proc/self/limits', 'utf8')): Ulimits {
  const hard = (label: string, fallback: number) => {
    const line = limitsText.split('\n').find((l) => l.startsWith(label));
    const v = line?.slice(26).trim().split(/\s+/)[1];
    if (v === undefined) return fallback;
    return v === 'unlimited' ? -1 : Number(v);
  };
  return { rtprio: hard('Max realtime priority', 0), memlock: hard('Max locked memory', 65536) };
}

/** The wanted limits, each capped at the host's hard limit. */
export function clampUlimits(wanted: Ulimits, host: Ulimits): Ulimits {
  const cap = (w: number, h: number) => (h === -1 ? w : w === -1 ? h : Math.min(w, h));
  return { rtprio: cap(wanted.rtprio, host.rtprio), memlock: cap(wanted.memlock, host.memlock) };
}

/** The label value that records a clamp on the container (`rtprio=0,memlock=8388608`). */
export const clampLabel = (u: Ulimits) => `rtprio=${u.rtprio},memlock=${u.memlock}`;

export function parseClampLabel(text: string | undefined): Ulimits | null {
  const m = /^rtprio=(-?\d+),memlock=(-?\d+)$/.exec(text ?? '');
  return m ? { rtprio: Number(m[1]), memlock: Number(m[2]) } : null;
}

/** What ContainerReady says about a clamped container. */
export const clampNote = (u: Ulimits) =>
  `ulimits clamped to the host's hard limits (rtprio ${u.rtprio}, memlock ${u.memlock}): the host refused rtprio 99 / memlock unlimited`;
