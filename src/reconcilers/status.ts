// Status of a runtime from what was observed and planned (pure): phase, conditions, observedGeneration.
import type { ObservedContainer } from '../docker/observed.js';
import { internalNetworkName, LABEL } from '../domain/names.js';
import type { Condition, Phase, RuntimeRecord, RuntimeStatus } from '../store/schema.js';
import type { FailureKind } from './executor.js';
import { upToDate } from './planner.js';
import { crashLoopOver } from './restart-policy.js';
import { clampNote, parseClampLabel } from './ulimits.js';
import type { Step } from './steps.js';
import { currentUpgrade } from './upgrade.js';

export interface Failure {
  message: string;
  kind: FailureKind;
  reason: string;
  count: number;
  until: number; // ms epoch: no retry before
}

type CondValue = Pick<Condition, 'status' | 'reason' | 'message'>;

export function deriveStatus(
  rec: RuntimeRecord,
  c: ObservedContainer | undefined,
  step: Step | undefined,
  failure: Failure | undefined,
  now: number,
  nsMacs: ReadonlyMap<string, string> = new Map(),
  /** A static vNIC on a Wi-Fi parent whose proxy-ARP path is not built in the current namespace (CONTRACT §9.2). */
  wifiPending: string | null = null,
  /** The runtime has run ten minutes since its last start, by the monotonic clock (the controller knows). */
  ranLong?: boolean,
): RuntimeStatus {
  const prev = rec.status;
  const running = c?.state === 'running';
  const waitNet = step?.action === 'wait' && step.condition === 'NetworkReady' ? step : undefined;
  const waitCrash = step?.action === 'wait' && step.condition === 'Running' ? step : undefined;
  const waitImage = step?.action === 'wait' && step.condition === 'ImageReady' ? step : undefined;
  const converged = step === undefined && failure === undefined;

  let phase: Phase;
  if (rec.deletion) phase = 'Deleting';
  else if (waitNet) phase = 'Pending';
  // A DHCP client or proxy-ARP path that netmon cannot set up leaves the runtime running (a PLC program may not need the LAN).
  else if ((failure && !/^(Dhcp|ProxyArp)/.test(failure.reason)) || waitCrash) phase = 'Failed';
  else if (converged) phase = running ? 'Running' : 'Stopped';
  else if (prev.observedGeneration < rec.generation) phase = 'Creating';
  else phase = running ? 'Running' : 'Stopped';

  const netStep = step?.action === 'connect' || step?.action === 'disconnect' || step?.action === 'createInternalNetwork' || step?.action === 'fixMac';
  const cond: Record<Condition['type'], CondValue> = {
    ImageReady:
      failure?.kind === 'image'
        ? { status: 'False', reason: failure.reason, message: failure.message }
        : waitImage
          ? { status: 'False', reason: 'Pulling', message: waitImage.reason }
          : c
          ? { status: 'True', reason: 'Present', message: '' }
          : { status: 'Unknown', reason: 'NotCreated', message: '' },
    NetworkReady: waitNet
      ? { status: 'False', reason: /^[A-Z][A-Za-z]+(?=:)/.exec(waitNet.reason)?.[0] ?? 'WaitingForNetwork', message: waitNet.reason }
      : failure?.kind === 'network'
        ? { status: 'False', reason: failure.reason, message: failure.message }
        : c && !netStep
          ? (wifiPending !== null
              ? { status: 'False', reason: 'ProxyArpPending', message: `${wifiPending}: the proxy-ARP path on its Wi-Fi parent is built once the container runs` }
              : null) ??
            (running ? dhcpCondition(rec) : null) ?? { status: 'True', reason: 'Attached', message: '' }
          : { status: c ? 'False' : 'Unknown', reason: c ? 'Attaching' : 'NotCreated', message: netStep ? step.reason : '' },
    ContainerReady: step?.action === 'wait' && step.condition === 'ContainerReady'
      ? { status: 'False', reason: /^[A-Z][A-Za-z]+(?=:)/.exec(step.reason)?.[0] ?? 'Waiting', message: step.reason }
      : !c
      ? { status: 'False', reason: failure?.kind === 'container' ? failure.reason : 'NotCreated', message: failure?.kind === 'container' ? failure.message : '' }
      : !upToDate(rec, c)
        ? { status: 'False', reason: 'SpecChanged', message: 'the container is re-created for the new spec' }
        : { status: 'True', reason: 'Created', message: ulimitNoteOf(c) },
    Running: running
      ? { status: 'True', reason: 'Started', message: '' }
      : waitCrash
        ? { status: 'False', reason: 'CrashLoopBackOff', message: `exited ${prev.crashCount} time(s); next start at ${waitCrash.until}` }
        : failure?.kind === 'container' && c
          ? { status: 'False', reason: failure.reason, message: failure.message }
          : !rec.running
            ? { status: 'False', reason: 'Stopped', message: 'stop requested' }
            : { status: 'False', reason: 'NotStarted', message: '' },
  };
  // A failed upgrade of this order holds until a new one: said on ContainerReady (and Running when held).
  const u = rec.deletion ? null : currentUpgrade(rec);
  const ended = u !== null && u.stage !== 'rollingOut';
  if (u?.stage === 'rolledBack') cond.ContainerReady = { status: 'False', reason: 'UpgradeRolledBack', message: u.reason ?? '' };
  if (u?.stage === 'held') {
    cond.ContainerReady = { status: 'False', reason: 'UpgradeHeld', message: u.reason ?? '' };
    if (!running) cond.Running = { status: 'False', reason: 'UpgradeHeld', message: u.reason ?? '' };
    phase = 'Failed';
  }
  const at = new Date(now).toISOString();
  const conditions = (Object.keys(cond) as Condition['type'][]).map((type) => {
    const v = cond[type];
    const old = prev.conditions.find((x) => x.type === type);
    const same = old && old.status === v.status && old.reason === v.reason;
    return { type, ...v, lastTransitionTime: same ? old.lastTransitionTime : at };
  });

  const crashReset = running && (ranLong ?? crashLoopOver(prev.lastStartedAt, now));
  return {
    ...prev,
    phase,
    conditions,
    // Not after a failed upgrade: the generation asked for is not what runs.
    observedGeneration: converged && !rec.deletion && !ended ? rec.generation : prev.observedGeneration,
    lastError: failure?.message ?? null,
    endpoints: Object.fromEntries(
      Object.entries(c?.networks ?? {})
        .filter(([n]) => n !== internalNetworkName(rec.spec.name))
        .map(([n, e]) => [n, { ip: dhcpOn(rec, n) ? (running ? leaseOn(rec, n) : null) : e.ip, mac: nsMacs.get(`${c!.id}/${n}`) ?? e.mac }]),
    ),
    crashCount: crashReset ? 0 : prev.crashCount,
    backoffUntil: crashReset ? null : prev.backoffUntil,
  };
}

/** The clamp recorded on the container itself: the note outlives the agent process that learned it. */
function ulimitNoteOf(c: ObservedContainer): string {
  const u = parseClampLabel(c.labels[LABEL.ulimits]);
  return u ? clampNote(u) : '';
}

/** NetworkReady of `dhcp` vNICs (CONTRACT §9.1): False until the LAN's server leased an address. */
function dhcpCondition(rec: RuntimeRecord): CondValue | null {
  for (const v of rec.spec.vnics.filter((x) => x.mode === 'dhcp')) {
    const l = rec.status.dhcp[v.name];
    if (l?.event === 'bound' || l?.event === 'renew') continue;
    if (l?.event === 'failed') return { status: 'False', reason: 'DhcpFailed', message: `${v.name}: ${l.message ?? 'no lease'}` };
    const why = l?.event === 'lost' ? 'the lease was lost; asking again' : "waiting for a lease from the LAN's DHCP server";
    return { status: 'False', reason: 'DhcpPending', message: `${v.name}: ${why}` };
  }
  return null;
}

/** The `dhcp` vNIC on MACVLAN network `network` (macvlan_<parent>_…), if it is one's. */
export function dhcpOn(rec: RuntimeRecord, network: string): RuntimeRecord['spec']['vnics'][number] | undefined {
  return rec.spec.vnics.find((x) => x.mode === 'dhcp' && network.startsWith(`macvlan_${x.parentInterface}_`));
}

/**
 * The leased address of the `dhcp` vNIC on MACVLAN network `network`, if bound. Such a vNIC never shows
 * Docker's IPAM address (CONTRACT §9.1): it is not on the interface once a client runs.
 */
export function leaseOn(rec: RuntimeRecord, network: string): string | null {
  const v = dhcpOn(rec, network);
  const l = v ? rec.status.dhcp[v.name] : undefined;
  return l && (l.event === 'bound' || l.event === 'renew') ? l.ip : null;
}
