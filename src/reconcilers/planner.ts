// The pure planner: plan(desired, observed, facts) → the next step per resource. Recomputed from fresh
// observations on every pass, so a failed or interrupted step is simply planned again.
import type { Observed, ObservedContainer } from '../docker/observed.js';
import { dataVolumeName, internalNetworkName, LABEL } from '../domain/names.js';
import { notOwnedRuntime } from '../domain/ownership.js';
import { hashMatches, specHash } from '../domain/spec-hash.js';
import type { HostInterface, RuntimeRecord, UninstallStage } from '../store/schema.js';
import { attachmentsOf } from '../domain/attachments.js';
import { parseCidr } from '../domain/ipv4.js';
import type { MacvlanNetworkSpec, Step, StepBody } from './steps.js';
import { devNumber, grantsOf, matchDevice } from '../domain/serial-match.js';
import { isIgnoredInterface, type SerialDevice } from '../netmon/iface.js';
import { currentUpgrade, effectiveRecord, gateSteps, targetImage, upgradeBeginStep, type Readiness } from './upgrade.js';

export interface HostFacts {
  interfaces: readonly HostInterface[];
  now: number; // ms since epoch: for timestamps only
  /** The monotonic clock now (ms): what every wait is decided on. */
  mono: number;
  /** Crash backoffs in force: runtime → monotonic deadline (the stored backoffUntil is for people). */
  crashWaits: ReadonlyMap<string, number>;
  runtimeImage: string; // repository; the tag is the spec's runtimeVersion
  selfContainerId: string | null; // the agent's own container, when it runs in one
  selfNetworks: readonly string[];
  /** False while the state file could not be trusted: nothing unknown is garbage-collected. */
  gcAllowed: boolean;
  /** The uninstall's current stage, when one was requested (delete_orchestrator). */
  uninstall: UninstallStage | null;
  /** netmon's facts are current (reported since start and not stale): parent down/missing can be judged. */
  hostKnown: boolean;
  /** Boot sequencing: netmon's first discovery arrived, or the bounded wait for it is over. */
  netmonReady: boolean;
  /** MACs the agent set inside namespaces: `<container id>/<network>` → mac (Docker's record differs). */
  nsMacs: ReadonlyMap<string, string>;
  /** Image references known to be local (learned by the executor; a create that finds one gone forgets it). */
  imagesPresent: ReadonlySet<string>;
  /** True when netmon runs the DHCP client of this vNIC in this container's current namespace. */
  dhcpRunning: (containerId: string, vnic: string) => boolean;
  /** Serial devices netmon reported (CONTRACT §9.4). */
  serialDevices: readonly SerialDevice[];
  /** Proxy-ARP paths built for running containers: `<container id>/<vnic>` → wifiPathKey() (a start forgets them). */
  wifiPaths: ReadonlyMap<string, string>;
  /** Device nodes made in running containers: `<container id>/<container path>` → `major:minor` (a start forgets them). */
  serialNodes: ReadonlyMap<string, string>;
  /** ORCH_SERIAL_MAJORS: a matched device of another major is never granted. */
  serialMajors: readonly number[];
  /**
   * A created container can be granted a device (the engine runs cgroup v1: netmon writes its devices.allow).
   * False on cgroup v2, where a device matched after create re-creates the container.
   */
  liveDeviceGrants: boolean;
  /**
   * False for a container whose memory/pids limits the executor has not yet brought to ORCH_RUNTIME_MEMORY_LIMIT
   * and ORCH_RUNTIME_PIDS_LIMIT in this agent process; absent when neither is set (containers left as they are).
   */
  limitsCurrent?: (containerId: string) => boolean;
  /** Readiness probes of new runtime versions: container id → what they saw (upgrade.ts). */
  readiness: ReadonlyMap<string, Readiness>;
  /** ORCH_RUNTIME_READY_TIMEOUT_MS: how long a new runtime version has to answer before it is rolled back. */
  readyTimeoutMs: number;
  /** An agent self-update is under way (upgrade_orchestrator). */
  agentUpdate?: boolean;
}

/** Why a parent cannot carry a MACVLAN endpoint now, judged from netmon's current facts. */
function parentProblem(parent: string, facts: HostFacts): string | null {
  // Whatever the facts say (or while they are unknown): never a MACVLAN network on docker0, a veth, a VPN link.
  if (isIgnoredInterface(parent)) return `ParentIgnored: ${parent} is a virtual interface netmon ignores, not a LAN`;
  if (!facts.hostKnown) return null;
  const f = facts.interfaces.find((i) => i.interface === parent);
  if (!f || f.status === 'removed') return `ParentMissing: host interface ${parent} does not exist`;
  if (f.status === 'down') return `ParentDown: host interface ${parent} is down`;
  return null;
}

export const imageOf = (repo: string, version: string) => `${repo}:${version}`;

/** What a proxy-ARP path is built for: another value builds it again. */
export const wifiPathKey = (p: { parent: string; ip: string; prefix: number; gateway: string | null; index?: number | undefined }) =>
  `${p.parent}#${p.index ?? ''}|${p.ip}/${p.prefix}|${p.gateway ?? ''}`;

export function plan(declared: Readonly<Record<string, RuntimeRecord>>, observed: Observed, facts: HostFacts): Step[] {
  // After a failed upgrade a runtime converges to its previous spec, or is held stopped (upgrade.ts).
  const desired = Object.fromEntries(Object.entries(declared).map(([n, r]) => [n, effectiveRecord(r)]));
  const steps: Step[] = [];
  // Only containers the agent owns as runtimes are ever touched; a name held by another is waited on.
  const containerByName = new Map<string, ObservedContainer>();
  const nameTaken = new Map<string, string>();
  for (const c of observed.containers) {
    const why = c.id === facts.selfContainerId ? "the agent's own container" : notOwnedRuntime(c.name, c.name, c.labels, desired[c.name]?.adoption !== undefined);
    if (why === null) containerByName.set(c.name, c);
    else nameTaken.set(c.name, why);
  }
  const networkNames = new Set(observed.networks.map((n) => n.name));
  const volumeNames = new Set(observed.volumes.map((v) => v.name));
  const neededMacvlans = new Map<string, MacvlanNetworkSpec>();
  const removing = (rec: RuntimeRecord) => rec.deletion !== null || facts.uninstall !== null;

  // MACVLAN networks whose parent link was replaced (a new ifindex): their endpoints are dead.
  const staleNets = new Set(
    observed.networks
      .filter((n) => {
        const idx = n.labels[LABEL.parentIndex];
        const f = facts.hostKnown ? facts.interfaces.find((i) => i.interface === n.parent) : undefined;
        return idx !== undefined && f?.index !== undefined && String(f.index) !== idx;
      })
      .map((n) => n.name),
  );
  // Docker allows one MACVLAN network per parent: one subnet per parent wins (the one that exists, else
  // the first by name); runtimes that want another are told, not retried in a loop.
  const attsByName = new Map(Object.entries(desired).filter(([, r]) => !removing(r)).map(([n, r]) => [n, attachmentsOf(r.spec, facts.interfaces)]));
  const chosen = new Map<string, string>();
  for (const a of [...attsByName.values()].flat().sort((x, y) => ((x.network ?? '') < (y.network ?? '') ? -1 : 1))) {
    if (!a.network) continue;
    const exists = observed.networks.some((n) => n.name === a.network && !staleNets.has(n.name));
    if (exists || !chosen.has(a.parent)) chosen.set(a.parent, a.network);
  }

  for (const [name, rec] of Object.entries(desired)) {
    const c = containerByName.get(name);
    const internal = internalNetworkName(name);
    const volume = dataVolumeName(name);
    const key = `runtime/${name}`;
    const add = (s: StepBody) => steps.push({ key, device: name, ...s });

    if (removing(rec)) {
      if (c) add({ action: 'removeContainer', containerId: c.id, reason: 'runtime deleted' });
      else if (networkNames.has(internal)) add({ action: 'removeNetwork', network: internal, reason: 'runtime deleted' });
      else if (volumeNames.has(volume)) add({ action: 'removeVolume', volume, reason: 'runtime deleted' });
      else add({ action: 'forget', reason: 'every object of the runtime is gone' });
      continue;
    }
    const taken = c === undefined ? nameTaken.get(name) : undefined;
    if (taken !== undefined) {
      add({ action: 'wait', until: null, condition: 'ContainerReady', reason: `NameTaken: ${taken}; the agent touches only its own runtime containers` });
      continue;
    }

    const all = attsByName.get(name)!;
    // vNICs on Wi-Fi parents have no MACVLAN network: their proxy-ARP path is built once the container runs.
    const atts = all.filter((a) => !a.wifi);
    const conflict = atts.find((a) => a.network && chosen.get(a.parent) !== a.network);
    for (const a of atts) {
      if (a.network && a.subnet && !conflict && !parentProblem(a.parent, facts)) {
        const index = facts.interfaces.find((i) => i.interface === a.parent)?.index ?? null;
        neededMacvlans.set(a.network, { name: a.network, parent: a.parent, subnet: a.subnet, gateway: a.gateway, parentIndex: index });
      }
    }
    // Held after a failed upgrade whose previous image is gone: nothing is created until a new order (its
    // networks are kept for it).
    if (!c && currentUpgrade(rec)?.stage === 'held') continue;
    // Hardware of a running runtime is served whatever its networks wait for (a PLC without its LAN still
    // has its serial ports); never while the agent stops or restarts it (the NIC was handed back for that).
    if (c?.state === 'running' && upToDate(rec, c) && rec.running && rec.restartCount <= rec.status.restartCount) {
      steps.push(...passthroughSteps(name, rec, c, facts));
    }
    const blocked =
      all.some((a) => a.vnic.subnet === undefined) && !facts.netmonReady
        ? 'WaitingForNetmon: the subnet comes from netmon, which has not reported since the agent started'
        : (all.map((a) => (a.network === null && !a.wifi ? null : parentProblem(a.parent, facts))).find((p) => p !== null) ??
          (conflict ? `ParentConflict: ${conflict.parent} already carries ${chosen.get(conflict.parent)}; Docker allows one MACVLAN network per parent` : null));
    if (blocked) {
      add({ action: 'wait', until: null, condition: 'NetworkReady', reason: blocked });
      continue;
    }
    let step = runtimeStep(name, rec, c, atts, observed, facts, { internal, volume, networkNames, volumeNames, staleNets }) ?? (c?.state === 'running' && rec.running && upToDate(rec, c) ? wifiStep(c, all, facts) : null);
    // A new version being rolled out: gated on its readiness (probed under a key of its own).
    if (currentUpgrade(rec)?.stage === 'rollingOut' && c && rec.running && upToDate(rec, c) && step?.action !== 'pullImage') {
      const gate = gateSteps(rec, c, step, facts.readiness.get(c.id), facts.now, facts.readyTimeoutMs);
      if (gate.probe) steps.push({ key: `ready/${name}`, device: name, ...gate.probe });
      step = gate.runtime;
    }
    if (step?.action === 'pullImage') {
      // Download before kill: the image is local before a container is created or the running one replaced.
      add({ action: 'wait', until: null, condition: 'ImageReady', image: step.image, reason: `Pulling: ${step.reason}` });
      steps.push({ key: `image/${step.image}`, device: null, ...step });
    } else if (step) add(step);
  }

  // Shared MACVLAN networks: create the needed ones, remove the agent's unneeded (or stale) ones once nothing uses them.
  const inUse = new Set(observed.containers.flatMap((c) => Object.keys(c.networks)));
  for (const n of observed.networks) {
    if (n.labels[LABEL.role] !== 'macvlan-network' || inUse.has(n.name) || !facts.gcAllowed) continue;
    if (neededMacvlans.has(n.name) && !staleNets.has(n.name)) continue;
    const reason = staleNets.has(n.name) ? `its parent ${n.parent ?? '?'} was replaced` : 'no runtime needs it';
    steps.push({ key: `network/${n.name}`, device: null, action: 'removeNetwork', network: n.name, reason });
  }
  for (const spec of neededMacvlans.values()) {
    if (networkNames.has(spec.name)) continue;
    const other = observed.networks.find((n) => n.driver === 'macvlan' && n.parent === spec.parent);
    if (other) continue; // Docker allows one MACVLAN network per parent: the old one goes first (above)
    steps.push({ key: `network/${spec.name}`, device: null, action: 'createMacvlanNetwork', network: spec, reason: `needed on ${spec.parent}` });
  }

  // Garbage: internal networks of runtimes nobody declared. A runtime container the state does not name is
  // taken into the state at start (recover.ts), never removed, except by an uninstall; a data volume holds a
  // PLC's program and only a delete of its runtime removes it (CONTRACT §8).
  if (facts.gcAllowed) {
    for (const c of facts.uninstall !== null ? observed.containers : []) {
      const dev = c.labels[LABEL.device];
      if (c.labels[LABEL.role] === 'runtime' && dev !== undefined && !(dev in desired)) {
        steps.push({ key: `runtime/${dev}`, device: dev, action: 'removeContainer', containerId: c.id, reason: 'uninstall: not declared' });
      }
    }
    for (const n of observed.networks) {
      const dev = n.labels[LABEL.device];
      if (n.labels[LABEL.role] === 'internal-network' && dev !== undefined && !(dev in desired) && !containerByName.has(dev)) {
        steps.push({ key: `runtime/${dev}`, device: dev, action: 'removeNetwork', network: n.name, reason: 'not declared' });
      }
    }
  }

  if (facts.uninstall !== null) steps.push(...uninstallSteps(desired, observed, facts.uninstall));
  if (facts.agentUpdate) steps.push({ key: 'agent/update', device: null, action: 'agentUpdate', reason: 'upgrade_orchestrator: agent self-update under way' });

  // One step per key: the first planned wins; the rest is planned again after it.
  const seen = new Set<string>();
  return steps.filter((s) => (seen.has(s.key) ? false : (seen.add(s.key), true)));
}


/** The container stands for the record's current spec (its label, or the adoption record of an unlabelled one). */
export function upToDate(rec: RuntimeRecord, c: ObservedContainer): boolean {
  if (hashMatches(c.labels[LABEL.specHash], rec.spec, c.image)) return true;
  return typeof rec.adoption === 'object' && rec.adoption.containerId === c.id && rec.adoption.specHash === specHash(rec.spec);
}

function runtimeStep(
  name: string,
  rec: RuntimeRecord,
  c: ObservedContainer | undefined,
  atts: ReturnType<typeof attachmentsOf>,
  observed: Observed,
  facts: HostFacts,
  o: { internal: string; volume: string; networkNames: Set<string>; volumeNames: Set<string>; staleNets: Set<string> },
): StepBody | null {
  const unknown = atts.find((a) => a.network === null);
  if (unknown) {
    return { action: 'wait', until: null, condition: 'NetworkReady', reason: `ParentSubnetUnknown: no subnet known for ${unknown.parent}` };
  }
  const missingNet = atts.find((a) => !o.networkNames.has(a.network!) || o.staleNets.has(a.network!));
  const image = targetImage(rec, facts.runtimeImage);
  if (!c) {
    // createContainer makes the data volume and internal network too, and starts the container it made.
    if (missingNet) return { action: 'wait', until: null, condition: 'NetworkReady', reason: `waiting for network ${missingNet.network}` };
    if (!facts.imagesPresent.has(image)) return { action: 'pullImage', image, reason: `image ${image} for a new container` };
    return upgradeBeginStep(rec, c, image) ?? { action: 'createContainer', reason: 'container missing' };
  }
  if (!upToDate(rec, c)) {
    if (rec.adoption === 'pending' && c.labels[LABEL.managed] !== 'true') {
      // Its MACs are read in its namespace, through netmon: Docker's records may not be what the LAN knows.
      if (!facts.netmonReady) return { action: 'wait', until: null, condition: 'NetworkReady', reason: "WaitingForNetmon: the container's MACs are read in its namespace through netmon, which has not reported since the agent started" };
      return { action: 'adopt', containerId: c.id, reason: "the Python agent's container: adopt it, not re-create it" };
    }
    if (!facts.imagesPresent.has(image)) return { action: 'pullImage', image, reason: `image ${image} for the new spec (the running container stays until it is local)` };
    return upgradeBeginStep(rec, c, image) ?? { action: 'removeContainer', containerId: c.id, recreateImage: image, reason: currentUpgrade(rec)?.stage === 'rolledBack' ? 'rollback: re-create the previous version' : 'spec changed: re-create' };
  }
  const ungranted = facts.liveDeviceGrants || !rec.running ? null : ungrantedDevice(rec, c, facts);
  if (ungranted) {
    // cgroup v2: the device rules are an eBPF program Docker loads at create; no update reaches it.
    if (!facts.imagesPresent.has(image)) return { action: 'pullImage', image, reason: `image ${image} to re-create the container for serial device ${ungranted}` };
    return { action: 'removeContainer', containerId: c.id, reason: `serial device ${ungranted} is not in the container's device rules (cgroup v2: fixed at create): re-create` };
  }
  const begin = upgradeBeginStep(rec, c, image); // a new order for the version that failed: gated again
  if (begin) return begin;

  if (!o.volumeNames.has(o.volume)) return { action: 'createVolume', volume: o.volume, reason: 'data volume missing' };
  if (!o.networkNames.has(o.internal)) return { action: 'createInternalNetwork', network: o.internal, reason: 'internal network missing' };

  // Networks: leave MACVLAN networks that are no longer wanted, join the wanted ones (no restart).
  const wanted = new Set([o.internal, ...atts.map((a) => a.network!)]);
  const stale = Object.keys(c.networks).find(
    (n) => (!wanted.has(n) || o.staleNets.has(n)) && observed.networks.some((on) => on.name === n && on.labels[LABEL.role] === 'macvlan-network'),
  );
  if (stale) return { action: 'disconnect', network: stale, containerId: c.id, reason: `left MACVLAN network ${stale}` };
  if (missingNet) return { action: 'wait', until: null, condition: 'NetworkReady', reason: `waiting for network ${missingNet.network}` };
  const unjoined = atts.find((a) => !(a.network! in c.networks));
  if (unjoined) return { action: 'connect', network: unjoined.network!, attachment: unjoined, reason: `not attached to ${unjoined.network}` };
  if (!(o.internal in c.networks)) return { action: 'connect', network: o.internal, attachment: null, reason: 'not attached to its internal network' };

  // Being removed (by someone else): not a crash; its removal event wakes the next pass.
  if (c.state === 'removing') return { action: 'wait', until: null, condition: 'ContainerReady', reason: 'Removing: the container is being removed' };
  if (c.state === 'dead') return { action: 'removeContainer', containerId: c.id, reason: 'the container is dead (a failed removal)' };
  if (facts.limitsCurrent && !facts.limitsCurrent(c.id)) return { action: 'updateLimits', containerId: c.id, reason: 'memory/pids limits as ORCH_RUNTIME_MEMORY_LIMIT and ORCH_RUNTIME_PIDS_LIMIT say (docker update, no restart)' };
  const running = c.state === 'running' || c.state === 'paused' || c.state === 'restarting';
  if (rec.running) {
    if (!running) {
      const crashed = c.state !== 'created' && rec.status.lastStartedAt !== null;
      const until = rec.status.backoffUntil;
      if (crashed && until !== null && (facts.crashWaits.get(name) ?? -Infinity) > facts.mono) {
        return { action: 'wait', until, condition: 'Running', reason: `CrashLoopBackOff: next start at ${until}` };
      }
      return { action: 'start', containerId: c.id, crashed, reason: crashed ? `exited (${c.status}): start again` : 'not running' };
    }
    if (rec.restartCount > rec.status.restartCount) return { action: 'restart', containerId: c.id, reason: 'restart requested' };
  } else if (running) {
    return { action: 'stop', containerId: c.id, reason: 'stop requested' };
  }
  if (running) {
    const drift = atts.find((a) => {
      const ep = c.networks[a.network!];
      return ep?.mac !== undefined && ep.mac !== null && ep.mac !== a.mac && facts.nsMacs.get(`${c.id}/${a.network}`) !== a.mac;
    });
    if (drift) return { action: 'fixMac', containerId: c.id, network: drift.network!, parent: drift.parent, mac: drift.mac, reason: `Docker ignored the MAC ${drift.mac} on ${drift.network}` };
    // A `dhcp` vNIC leases its address from the LAN's server (CONTRACT §9.1), through netmon, with its MAC set first.
    const dhcp = atts.find((a) => a.vnic.mode === 'dhcp' && !facts.dhcpRunning(c.id, a.vnic.name));
    if (dhcp) return { action: 'dhcpStart', containerId: c.id, vnic: dhcp.vnic.name, mac: dhcp.mac, reason: `DHCP client for ${dhcp.vnic.name} on ${dhcp.network}` };
  }
  if (facts.selfContainerId !== null && !facts.selfNetworks.includes(o.internal)) {
    return { action: 'connectSelf', network: o.internal, reason: 'the agent joins the internal network to reach the runtime' };
  }
  return null;
}

/**
 * vNICs on Wi-Fi parents (CONTRACT §9.2): a static address gets its proxy-ARP path built by netmon in the
 * container's current namespace; a `dhcp` one gets netmon's client on the Wi-Fi parent (option 61 = the
 * vNIC's client id), which builds the path when the lease arrives.
 */
function wifiStep(c: ObservedContainer, all: ReturnType<typeof attachmentsOf>, facts: HostFacts): StepBody | null {
  for (const a of all.filter((x) => x.wifi)) {
    const base = { containerId: c.id, vnic: a.vnic.name, parent: a.parent };
    if (a.vnic.mode === 'dhcp') {
      if (!facts.dhcpRunning(c.id, a.vnic.name)) return { action: 'wifiDhcpStart', ...base, reason: `DHCP client on Wi-Fi parent ${a.parent} for ${a.vnic.name}` };
      continue;
    }
    const cidr = a.subnet === null ? null : parseCidr(a.subnet);
    if (cidr === null) return { action: 'wait', until: null, condition: 'NetworkReady', reason: `ParentSubnetUnknown: no subnet known for ${a.parent}` };
    // No IPAM on this path: a static address outside the parent's (new) subnet cannot be used.
    if (a.ip === null) return { action: 'wait', until: null, condition: 'NetworkReady', reason: `AddressOutsideSubnet: ${a.vnic.ip ?? '?'} is not in ${a.subnet} of ${a.parent}` };
    const want = { parent: a.parent, ip: a.ip, prefix: cidr.prefix, gateway: a.gateway };
    // A parent replaced (a new ifindex, e.g. a re-plugged USB Wi-Fi) lost its neighbour proxy: build it again.
    const index = facts.interfaces.find((i) => i.interface === a.parent)?.index;
    if (facts.wifiPaths.get(`${c.id}/${a.vnic.name}`) !== wifiPathKey({ ...want, index })) {
      return { action: 'wifiPath', ...base, ...want, parentIndex: index ?? null, reason: `proxy-ARP path for ${a.ip} on Wi-Fi parent ${a.parent}` };
    }
  }
  return null;
}

/**
 * Hardware passed into a running runtime, each on a key of its own (a missing device never holds up the
 * runtime's other steps): its dedicated NIC, moved in whenever netmon sees it on the host (after every start
 * the namespace is new; a runtime that died gave a physical NIC back), and its serial ports' device nodes,
 * made after every start and every re-plug (CONTRACT §9.3, §9.4).
 */
function passthroughSteps(name: string, rec: RuntimeRecord, c: ObservedContainer, facts: HostFacts): Step[] {
  const steps: Step[] = [];
  const nic = rec.spec.dedicatedInterface;
  if (nic !== undefined && facts.hostKnown) {
    const f = facts.interfaces.find((i) => i.interface === nic);
    // It gained the host's default route while it was on the host: never moved (netmon refuses it too).
    if (f !== undefined && f.dedicated_to === undefined && (f.default_route === true || f.gateway !== null)) return steps;
    // On the host, or unknown to netmon (a restarted netmon forgets what it moved: nic_move finds it inside).
    if (f === undefined || (f.dedicated_to === undefined && f.status !== 'removed') || (f.dedicated_to !== undefined && f.dedicated_to !== name)) {
      steps.push({ key: `nic/${name}`, device: name, action: 'nicMove', containerId: c.id, nic, reason: `dedicated NIC ${nic} is not in the runtime's namespace` });
    }
  }
  const grants = grantsOf(c.labels, LABEL.serialGrants);
  for (const sc of rec.spec.serialConfigs ?? []) {
    const d = matchDevice(sc, facts.serialDevices);
    const node = facts.serialNodes.get(`${c.id}/${sc.containerPath}`);
    if (!d || !facts.serialMajors.includes(d.major)) {
      // Unplugged (or a major never granted): the node goes, so a later device of that number is not reachable.
      if (node === undefined) continue;
      steps.push({ key: `serial/${name}`, device: name, action: 'serialNodeRemove', containerId: c.id, port: sc.name, path: sc.containerPath, reason: `serial port ${sc.name}: device gone, node ${sc.containerPath} removed` });
      break;
    }
    if (node === devNumber(d)) continue;
    // Not in the create-time rules: granted by netmon (cgroup v1), else the container is re-created (runtimeStep).
    const granted = grants === null || grants.has(devNumber(d));
    if (!granted && !facts.liveDeviceGrants) continue;
    steps.push({
      key: `serial/${name}`,
      device: name,
      action: 'serialNode',
      containerId: c.id,
      port: sc.name,
      path: sc.containerPath,
      major: d.major,
      minor: d.minor,
      hostPath: d.path,
      grant: !granted,
      reason: `serial port ${sc.name}: ${d.path} (${d.major}:${d.minor}) at ${sc.containerPath}`,
    });
    break; // one node per pass and key; the next pass makes the next
  }
  return steps;
}

/** A matched device (of an allowed major) the container's create-time device rules do not name. */
function ungrantedDevice(rec: RuntimeRecord, c: ObservedContainer, facts: HostFacts): string | null {
  const grants = grantsOf(c.labels, LABEL.serialGrants);
  if (grants === null) return null; // made by an earlier agent with whole-major rules
  for (const sc of rec.spec.serialConfigs ?? []) {
    const d = matchDevice(sc, facts.serialDevices);
    if (d && facts.serialMajors.includes(d.major) && !grants.has(devNumber(d))) return devNumber(d);
  }
  return null;
}

/** Uninstall: every runtime goes (above), then the agent's networks, then netmon, then the agent itself. */
function uninstallSteps(desired: Readonly<Record<string, RuntimeRecord>>, observed: Observed, current: UninstallStage): Step[] {
  const base = { key: 'agent/uninstall', device: null } as const;
  if (Object.keys(desired).length > 0 || observed.containers.some((c) => c.labels[LABEL.role] === 'runtime')) {
    return current === 'deleting_runtimes' ? [] : [{ ...base, action: 'uninstall', stage: 'deleting_runtimes', reason: 'runtimes remain' }];
  }
  // Data volumes go with their runtimes' deletion (above); one of a runtime the agent never knew stays.
  const net = observed.networks.find((n) => n.labels[LABEL.role] === 'macvlan-network' || n.labels[LABEL.role] === 'internal-network');
  if (net) {
    if (current === 'deleting_runtimes') return [{ ...base, action: 'uninstall', stage: 'cleaning_networks', reason: 'agent networks remain' }];
    return [{ ...base, action: 'removeNetwork', network: net.name, reason: 'uninstall: agent network' }];
  }
  if (current === 'done') return [];
  const next: UninstallStage = current === 'deleting_runtimes' || current === 'cleaning_networks' ? 'deleting_netmon' : current === 'deleting_netmon' ? 'removing_self' : 'done';
  return [{ ...base, action: 'uninstall', stage: next, reason: `uninstall: ${next}` }];
}
