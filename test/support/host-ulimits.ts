// What this host lets a container have, worked out from the host's own limits (/proc/self/limits) and
// CAP_SYS_RESOURCE (/proc/self/status): a private dockerd is the test process's child, with the same.
import fs from 'node:fs';

const CAP_SYS_RESOURCE = 24n;
const UNLIMITED = -1;

/** Soft and hard value of one row of a /proc/<pid>/limits text; -1 = unlimited. */
export function limitOf(text: string, label: 'Max realtime priority' | 'Max locked memory'): { soft: number; hard: number } {
  const row = text.split('\n').find((l) => l.startsWith(label));
  if (!row) throw new Error(`no "${label}" row in:\n${text}`);
  const [soft, hard] = row.slice(label.length).trim().split(/\s+/);
  const n = (v: string | undefined) => (v === 'unlimited' ? UNLIMITED : Number(v));
  return { soft: n(soft), hard: n(hard) };
}

const covers = (hard: number, wanted: number) => hard === UNLIMITED || (wanted !== UNLIMITED && hard >= wanted);

/** What this host lets a container have, from the host's own limits and capabilities. */
export function hostOutcome() {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const rtprioHard = limitOf(limits, 'Max realtime priority').hard;
  const memlockHard = limitOf(limits, 'Max locked memory').hard;
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const canRaiseHard = ((capEff >> CAP_SYS_RESOURCE) & 1n) === 1n;
  const allowed = canRaiseHard || (covers(rtprioHard, 99) && covers(memlockHard, UNLIMITED));
  const expected = allowed
    ? { rtprio: 99, memlock: UNLIMITED }
    : { rtprio: rtprioHard === UNLIMITED ? 99 : Math.min(99, rtprioHard), memlock: memlockHard };
  return { allowed, expected, why: `host hard limits rtprio ${rtprioHard}, memlock ${memlockHard}; CAP_SYS_RESOURCE ${canRaiseHard ? 'held' : 'not held'}` };
}
