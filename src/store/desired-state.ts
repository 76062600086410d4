// The only ways desired state changes: typed functions used by every source (cloud, CLI).
import { dedicationRefusal, parentDedicatedElsewhere } from '../domain/dedicated-nic.js';
import { sameSpec, vnicMac, type RuntimeSpec } from '../domain/runtime-spec.js';
import { wifiAddressProblem } from '../domain/wifi-address.js';
import { initialStatus, type State } from './schema.js';
import type { Store } from './store.js';

export class DesiredStateError extends Error {}

export type PutResult = 'created' | 'unchanged' | 'updated';

/**
 * Declares a runtime. Same name with a different spec is refused unless `allowUpdate` (operator apply) or
 * only `runtimeVersion` differs (a runtime version upgrade, docs/runtime-containers.md). The same spec again
 * after its upgrade failed (rolled back or held) is a new order: the version is tried once more.
 * `cloudInterface`: the NIC the host's route to the cloud leaves through (never dedicated to a runtime).
 */
export function putRuntime(store: Store, spec: RuntimeSpec, opts: { allowUpdate?: boolean; cloudInterface?: string | null } = {}): Promise<PutResult> {
  return store.update('desired', (s) => {
    if (s.agent.uninstall && s.agent.uninstall.step !== 'done') throw new DesiredStateError('(agent): the orchestrator is being uninstalled');
    const existing = s.runtimes[spec.name];
    if (existing && existing.deletion === null && sameSpec(existing.spec, spec)) {
      const u = existing.status.upgrade;
      if (u === undefined || u.generation !== existing.generation || u.stage === 'rollingOut') return 'unchanged';
      existing.generation += 1;
      return 'updated';
    }
    const versionOnly = existing !== undefined && sameSpec({ ...existing.spec, runtimeVersion: spec.runtimeVersion }, spec);
    if (existing && existing.deletion === null && !opts.allowUpdate && !versionOnly) {
      throw new DesiredStateError('container_name: Container name is already in use');
    }
    if (existing?.deletion) throw new DesiredStateError(`container_name: ${spec.name} is being deleted; retry when it is gone`);
    checkMacsUnique(s, spec);
    const others = Object.entries(s.runtimes).filter(([n, r]) => n !== spec.name && r.deletion === null).map(([, r]) => r.spec);
    const refusal =
      parentDedicatedElsewhere(spec, others) ??
      dedicationRefusal({ spec, interfaces: s.host.observedAt === null ? null : s.host.interfaces, others, cloudInterface: opts.cloudInterface ?? null });
    if (refusal !== null) throw new DesiredStateError(refusal);
    if (s.host.observedAt !== null) checkWifiAddresses(spec, s.host.interfaces);
    if (existing) {
      existing.spec = spec;
      existing.generation += 1;
      return 'updated';
    }
    s.runtimes[spec.name] = {
      spec,
      generation: 1,
      running: true,
      restartCount: 0,
      deletion: null,
      createdAt: new Date().toISOString(),
      status: initialStatus(),
    };
    return 'created';
  });
}

/** A static address on a Wi-Fi parent becomes a host route (CONTRACT §9.2): judged now when netmon knows the parent's subnet; netmon judges it again. */
function checkWifiAddresses(spec: RuntimeSpec, interfaces: State['host']['interfaces']): void {
  for (const [i, v] of spec.vnics.entries()) {
    const parent = interfaces.find((f) => f.interface === v.parentInterface);
    if (v.mode !== 'static' || v.ip === undefined || parent?.type !== 'wifi' || parent.ipv4_addresses.length === 0) continue;
    const problem = wifiAddressProblem(v.ip, parent, v.gateway ?? null);
    if (problem !== null) throw new DesiredStateError(`vnic_configs[${i}].ip: ${problem} of Wi-Fi parent ${v.parentInterface}`);
  }
}

function checkMacsUnique(s: State, spec: RuntimeSpec): void {
  const used = new Map<string, string>();
  for (const [name, r] of Object.entries(s.runtimes)) {
    if (name === spec.name) continue;
    for (const v of r.spec.vnics) used.set(vnicMac(r.spec, v), name);
  }
  for (const [i, v] of spec.vnics.entries()) {
    const owner = used.get(vnicMac(spec, v));
    if (owner !== undefined) throw new DesiredStateError(`vnic_configs[${i}].mac: MAC address ${vnicMac(spec, v)} is already in use by ${owner}`);
  }
}

/** Marks a runtime for deletion; false when unknown. */
export function markForDeletion(store: Store, name: string): Promise<boolean> {
  return store.update('desired', (s) => {
    const r = s.runtimes[name];
    if (!r) return false;
    r.deletion ??= { requestedAt: new Date().toISOString() };
    return true;
  });
}

/**
 * A runtime container the state does not name (made after the start's recovery, or left by another agent)
 * taken into the state only to be deleted: the reconciler then removes it, its network and its volume
 * like any deleted runtime. False when the state names it already (then markForDeletion applies).
 */
export function takeForDeletion(store: Store, spec: RuntimeSpec, createdAt: string): Promise<boolean> {
  return store.update('desired', (s) => {
    if (s.runtimes[spec.name]) return false;
    const requestedAt = new Date().toISOString();
    s.runtimes[spec.name] = { spec, generation: 1, running: false, restartCount: 0, deletion: { requestedAt }, createdAt, status: initialStatus() };
    return true;
  });
}

export type LifecycleAction = 'start' | 'stop' | 'restart';

/** start/stop set desired `running`; restart also bumps the restart counter. False when unknown or being deleted. */
export function setLifecycle(store: Store, name: string, action: LifecycleAction): Promise<boolean> {
  return store.update('desired', (s) => {
    const r = s.runtimes[name];
    if (!r || r.deletion) return false;
    r.running = action !== 'stop';
    if (action === 'restart') r.restartCount += 1;
    if (action !== 'stop') {
      // An operator's start clears a crash-loop wait; the exit already accounted is not counted again.
      r.status.backoffUntil = null;
      r.status.crashCount = 0;
      r.status.lastStartedAt = null;
    }
    return true;
  });
}

/** An agent self-update asked for and not ended (done or error). */
export const agentUpdateUnderWay = (s: Readonly<State>) => !!s.agent.update && s.agent.update.step !== 'done' && s.agent.update.error === null;
const uninstallUnderWay = (s: Readonly<State>) => !!s.agent.uninstall && s.agent.uninstall.step !== 'done';

/** Declares the uninstall (delete_orchestrator); false when one (or an agent update) is already under way. `byContainer`: the asking agent's own. */
export function requestUninstall(store: Store, byContainer: string | null): Promise<boolean> {
  return store.update('desired', (s) => {
    if (uninstallUnderWay(s) || agentUpdateUnderWay(s)) return false;
    s.agent.uninstall = { requestedAt: new Date().toISOString(), step: 'deleting_runtimes', error: null, byContainer };
    return true;
  });
}

/**
 * Declares the agent's self-update (upgrade_orchestrator); false when one or an uninstall is under way.
 * `image`: the full reference to pull; `digest`: checked after the pull when given.
 */
export function requestAgentUpdate(store: Store, order: { image: string; digest: string | null; netmonImage?: string | null; netmonDigest?: string | null; byContainer: string | null }): Promise<boolean> {
  return store.update('desired', (s) => {
    if (uninstallUnderWay(s) || agentUpdateUnderWay(s)) return false;
    const now = new Date().toISOString();
    s.agent.update = { requestedAt: now, updatedAt: now, image: order.image, digest: order.digest, step: 'starting', error: null, byContainer: order.byContainer };
    if (order.netmonImage) Object.assign(s.agent.update, { netmonImage: order.netmonImage, netmonDigest: order.netmonDigest ?? null });
    return true;
  });
}
