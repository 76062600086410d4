// The ulimits a runtime will get, known before its first create: runc (under containerd's shim) raises a
// container's rlimits with the limits and capabilities the engine's processes have, not the agent's (the
// agent may run in a container of its own). Where those processes are visible (agent on the host, or
// sharing its pid namespace) and all tell the same, the outcome is predicted; else null, and the first
// start teaches it (executor.ts).
import fs from 'node:fs';
import path from 'node:path';
import { clampUlimits, hostHardUlimits, WANTED_ULIMITS, type Ulimits } from './ulimits.js';

const ENGINE_COMMS = /^(dockerd|containerd|containerd-shim.*)$/;
const CAP_SYS_RESOURCE = 24n;

/** What one engine process lets runc give a container: the wanted limits with CAP_SYS_RESOURCE, else its hard limits. */
function outcomeOf(dir: string, ownUserNs: string): Ulimits | null {
  try {
    // A user namespace other than the agent's (a rootless engine): its capabilities may not reach the hard limits.
    if (fs.readlinkSync(path.join(dir, 'ns/user')) !== ownUserNs) return null;
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(path.join(dir, 'status'), 'utf8'))?.[1];
    if (capEff === undefined) return null;
    if (((BigInt(`0x${capEff}`) >> CAP_SYS_RESOURCE) & 1n) === 1n) return WANTED_ULIMITS;
    return clampUlimits(WANTED_ULIMITS, hostHardUlimits(fs.readFileSync(path.join(dir, 'limits'), 'utf8')));
  } catch {
    return null; // gone meanwhile, or not ours to read
  }
}

/** The predicted ulimits of the next container, or null when no engine process is visible or they disagree. */
export function predictEngineUlimits(procRoot = '/proc'): Ulimits | null {
  let ownUserNs: string;
  let pids: string[];
  try {
    ownUserNs = fs.readlinkSync(path.join(procRoot, 'self/ns/user'));
    pids = fs.readdirSync(procRoot).filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  let seen: Ulimits | null = null;
  for (const pid of pids) {
    let comm: string;
    try {
      comm = fs.readFileSync(path.join(procRoot, pid, 'comm'), 'utf8').trim();
    } catch {
      continue;
    }
    if (!ENGINE_COMMS.test(comm)) continue;
    const u = outcomeOf(path.join(procRoot, pid), ownUserNs);
    if (u === null) return null;
    if (seen !== null && (seen.rtprio !== u.rtprio || seen.memlock !== u.memlock)) return null;
    seen = u;
  }
  return seen;
}

const isLimit = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= -1;

/** The prediction in netmon's `engine_ulimits` answer; null when netmon could not tell (or is older, or said something else). */
export function engineUlimitsOf(answer: Record<string, unknown>): Ulimits | null {
  if (answer.success !== true || typeof answer.ulimits !== 'object' || answer.ulimits === null) return null;
  const { rtprio, memlock } = answer.ulimits as Record<string, unknown>;
  if (!isLimit(rtprio) || !isLimit(memlock)) return null;
  return rtprio === WANTED_ULIMITS.rtprio && memlock === WANTED_ULIMITS.memlock ? WANTED_ULIMITS : { rtprio, memlock };
}
