// Carries out one planned step through dockerode. Idempotent where Docker allows it (an object that is
// already there or already gone is success), and a failed container creation leaves nothing behind.
import { monoNow } from '../clock.js';
import type Docker from 'dockerode';
import type { ObservedContainer } from '../docker/observed.js';
import { apiVersion, atLeast, messageOf, statusOf } from '../docker/client.js';
import { withTimeout } from '../docker/deadline.js';
import { pullToEnd } from '../docker/pull.js';
import { limitsConfig, request144, requestBelow144, type RuntimeLimits } from '../docker/runtime-container-request.js';
import type { Logger } from '../log.js';
import type { ContainerLog } from '../config.js';
import { dataVolumeName, internalNetworkName, LABEL, labelsFor } from '../domain/names.js';
import { mergedDns } from '../domain/runtime-spec.js';
import { specHash } from '../domain/spec-hash.js';
import type { Store } from '../store/store.js';
import { attachmentsOf } from '../domain/attachments.js';
import { deviceGrants } from '../domain/serial-match.js';
import { keepIdentity, macvlanEndpoints, withNamespace } from './container-identity.js';
import type { NsIface } from '../netmon/namespace-mac.js';
import { wifiPathKey } from './planner.js';
import { requestRuntime } from '../runtime-api/runtime-http.js';
import { currentUpgrade, effectiveRecord, READY_PATH, READY_PROBE_INTERVAL_MS, READY_PROBE_TIMEOUT_MS, targetImage, type Readiness } from './upgrade.js';
import type { Step } from './steps.js';
import { clampLabel, clampNote, clampUlimits, hostHardUlimits, isRlimitRefusal, parseClampLabel, WANTED_ULIMITS, type Ulimits } from './ulimits.js';
import { predictEngineUlimits } from './engine-ulimits.js';

export type FailureKind = 'image' | 'network' | 'container';

export class StepError extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    readonly reason: string,
  ) {
    super(message);
  }
}

export interface ExecutorDeps {
  docker: Docker;
  /** For pulls: a client without a call timeout (progress may pause); the pull has a deadline of its own. */
  pullDocker?: Docker;
  store: Store;
  log: Logger;
  runtimeImage: string;
  selfContainerId: string | null;
  /** Sets the MAC of the interface on host parent `parent` inside a container's network namespace (through netmon); null when netmon is absent. */
  setMac: ((pid: number, parent: string, mac: string) => Promise<void>) | null;
  /** A netmon command (DHCP clients); answers `{success:false, error}` when netmon is not there. */
  netmon?: (cmd: Record<string, unknown>) => Promise<Record<string, unknown>>;
  /** ORCH_SERIAL_MAJORS (device cgroup rules of runtimes with serial ports). */
  serialMajors?: readonly number[];
  /** ORCH_CONTAINER_LOG (default: the engine's own). */
  containerLog?: ContainerLog;
  /** The disk guard's admission of a pull: rejects (NotEnoughDiskError) when it would not fit. */
  admitPull?: (image: string) => Promise<void>;
  /** ORCH_RUNTIME_MEMORY_LIMIT / ORCH_RUNTIME_PIDS_LIMIT. */
  runtimeLimits?: RuntimeLimits;
  /** Where the engine's processes are read to predict the ulimits (tests); default /proc. */
  procRoot?: string;
  /**
   * The same prediction made on the host's /proc (netmon's `engine_ulimits`), for an agent that cannot see
   * the engine's processes (in its container): undefined while it cannot be asked yet (netmon not connected).
   */
  hostEngineUlimits?: () => Promise<Ulimits | null | undefined>;
  /** ORCH_RUNTIME_PORT: where a runtime's readiness is asked (HTTPS on 8443). */
  runtimePort?: number;
  /** The agent's self-update step (src/update/agent-update-step.ts); absent: nothing to do. */
  agentUpdate?: () => Promise<void>;
}

const STOP_TIMEOUT_S = 10;
/** How long a stop waits for netmon to hand a dedicated NIC back (the Python agent's 10 s). */
const NIC_RETURN_WAIT_MS = 10_000;
/** No single Docker call may hang a step for ever (a wedged engine): stop waits up to 10 s of its own. */
const CALL_TIMEOUT_MS = 60_000;

export class Executor {
  ulimits: Ulimits = WANTED_ULIMITS;
  /** True once a runtime started with `ulimits` (or the clamp was learned): creates may then run in parallel. */
  ulimitsVerified = false;
  private ulimitsPredicted = false;
  /** MACs set in namespaces: `<container id>/<network>` → mac (a start or restart undoes them). */
  readonly nsMacs = new Map<string, string>();
  /** Image references known to be local: the planner pulls before it creates or replaces a container. */
  readonly imagesPresent = new Set<string>();
  /** DHCP clients netmon runs: `<container id>/<vnic>` → runtime name (a start, a restart, a re-attach or a new netmon ends them). */
  readonly dhcpClients = new Map<string, string>();
  /** Proxy-ARP paths netmon built: `<container id>/<vnic>` → wifiPathKey() (a start forgets them: a new namespace). */
  readonly wifiPaths = new Map<string, string>();
  /** Serial device nodes made in containers: `<container id>/<container path>` → `major:minor` (a start forgets them). */
  readonly serialNodes = new Map<string, string>();
  /**
   * Readiness probes of new runtime versions, by container id: the first probe's time (monotonic: a wall
   * clock set at boot must not end or stretch a gate), the last one's, and its answer. In memory only: a
   * restarted agent gives a new version its full timeout again.
   */
  private readonly probes = new Map<string, { since: number; last: number; ready: boolean; detail: string }>();

  /** Containers known to have the configured limits (made with them, or updated) in this agent process. */
  readonly limitsCurrent = new Set<string>();

  private api: [number, number] | null = null;
  /** The engine's cgroup version (`docker info`), once read: on "2" a device cannot be granted to a created container. */
  cgroupVersion: string | null = null;

  get serialMajors(): readonly number[] {
    return this.d.serialMajors ?? [188, 166, 4];
  }

  constructor(private readonly d: ExecutorDeps) {}

  /**
   * A clamp learned by an earlier agent process is on the containers it made: later creates use it at once
   * instead of paying for it with a failed start again.
   */
  async learnUlimits(containers: readonly ObservedContainer[]): Promise<void> {
    if (this.ulimits !== WANTED_ULIMITS) return;
    for (const c of containers) {
      const u = parseClampLabel(c.labels[LABEL.ulimits]);
      if (u) {
        this.ulimits = u;
        this.ulimitsVerified = true;
        return;
      }
    }
    await this.predictUlimits();
  }

  /**
   * Before the first create: the engine's processes tell what runc will grant (engine-ulimits.ts), so a
   * burst runs in parallel at once and no create pays a failed start. Read here, else asked of netmon
   * (once it can be asked); a wrong prediction is still caught by the refused start (start() below).
   */
  private async predictUlimits(): Promise<void> {
    if (this.ulimitsVerified || this.ulimitsPredicted) return;
    let u = predictEngineUlimits(this.d.procRoot);
    let from = "the engine's processes";
    if (u === null && this.d.hostEngineUlimits) {
      const asked = await this.d.hostEngineUlimits();
      if (asked === undefined) return; // netmon not there yet: the next pass asks again
      if (this.ulimitsVerified) return; // a start settled it meanwhile
      u = asked;
      from = "the engine's processes, through netmon";
    }
    this.ulimitsPredicted = true;
    if (u === null) return;
    this.ulimitsVerified = true;
    if (u.rtprio === WANTED_ULIMITS.rtprio && u.memlock === WANTED_ULIMITS.memlock) return;
    this.ulimits = u;
    this.d.log.warn({ ulimits: u }, `${clampNote(u)} (read from ${from} before the first create)`);
  }

  /** Whether ORCH_RUNTIME_MEMORY_LIMIT or ORCH_RUNTIME_PIDS_LIMIT is set (else containers keep theirs). */
  get limitsConfigured(): boolean {
    const l = this.d.runtimeLimits;
    return l !== undefined && (l.memory !== null || l.pids !== null);
  }

  /** An existing container gets the configured limits through `docker update`: no restart, no re-create. */
  private async updateLimits(name: string, id: string): Promise<void> {
    const want = limitsConfig(this.d.runtimeLimits);
    const c = this.d.docker.getContainer(id);
    const h = (await c.inspect()).HostConfig as { Memory?: number; MemorySwap?: number; PidsLimit?: number | null };
    const differs = (Object.keys(want) as (keyof typeof want)[]).filter((k) => (h[k] ?? 0) !== want[k]);
    if (differs.length > 0) {
      try {
        await c.update(want);
      } catch (e) {
        throw new StepError(`update ${name}: ${messageOf(e)}`, 'container', 'UpdateFailed');
      }
      this.d.log.info({ device: name, ...want }, 'runtime limits updated (no restart)');
    }
    this.limitsCurrent.add(id);
  }

  /** The engine's API version, read once it is reachable (it picks the create request's shape). */
  async apiVersion(): Promise<[number, number]> {
    this.api ??= await apiVersion(this.d.docker);
    return this.api;
  }

  /** Reads the engine's cgroup version once (a failed read is tried again on the next call). */
  async learnCgroupVersion(): Promise<void> {
    if (this.cgroupVersion !== null) return;
    const info = (await this.d.docker.info()) as { CgroupVersion?: string };
    this.cgroupVersion = info.CgroupVersion ?? '1'; // engines before API 1.40 knew only cgroup v1
  }

  /** `started`: the container the step started (a createContainer's, or a start's re-created after a ulimit
   * clamp), null when it started none after all (the record stopped asking): the controller records a start. */
  async run(step: Step): Promise<{ started: string | null } | void> {
    const { docker } = this.d;
    switch (step.action) {
      case 'createVolume':
        await docker.createVolume({ Name: step.volume, Labels: labelsFor('runtime-data', step.device ?? undefined) });
        return;
      case 'removeVolume':
        return ignore404(docker.getVolume(step.volume).remove());
      case 'createInternalNetwork':
        return this.createNetwork({ Name: step.network, Driver: 'bridge', Internal: true, Labels: labelsFor('internal-network', step.device ?? undefined) });
      case 'createMacvlanNetwork': {
        const n = step.network;
        return this.createNetwork({
          Name: n.name,
          Driver: 'macvlan',
          Options: { parent: n.parent, macvlan_mode: 'bridge' },
          IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, ...(n.gateway ? { Gateway: n.gateway } : {}) }] },
          Labels: { ...labelsFor('macvlan-network'), [LABEL.parent]: n.parent, [LABEL.subnet]: n.subnet, ...(n.parentIndex !== null ? { [LABEL.parentIndex]: String(n.parentIndex) } : {}) },
        });
      }
      case 'removeNetwork':
        return wrapNetwork(ignore404(docker.getNetwork(step.network).remove()));
      case 'pullImage':
        return this.ensureImage(step.image);
      case 'createContainer':
        return this.createAndStart(step.device!);
      case 'removeContainer': {
        if (step.recreateImage !== undefined) await this.assertStillLocal(step.recreateImage);
        await this.dhcpStop(step.device);
        await this.wifiTeardown(step.device);
        await this.nicReturn(step.device, step.containerId);
        const c = docker.getContainer(step.containerId);
        await ignore404(ignore304(c.stop({ t: STOP_TIMEOUT_S })));
        this.probes.delete(step.containerId);
        return ignore404(c.remove({ force: true }));
      }
      case 'connect':
        this.forgetDhcp(step.device!); // a new endpoint: its DHCP client starts again on it
        if (step.attachment) await this.leasesGone(step.device!, step.network);
        await wrapNetwork(
          docker.getNetwork(step.network).connect({
            Container: step.device!,
            EndpointConfig: step.attachment ? { ...(step.attachment.ip ? { IPAMConfig: { IPv4Address: step.attachment.ip } } : {}), MacAddress: step.attachment.mac } : {},
          }),
        );
        return;
      case 'disconnect':
        // The MAC set in the namespace goes with the endpoint: a later connect to a network of the same name
        // (a LAN renumbered back) gets a new endpoint whose MAC must be set again.
        this.nsMacs.delete(`${step.containerId}/${step.network}`);
        if (step.device !== null) await this.leasesGone(step.device, step.network);
        return wrapNetwork(ignore404(docker.getNetwork(step.network).disconnect({ Container: step.containerId, Force: true })));
      case 'start': {
        await this.leasesGone(step.device!);
        const started = await this.start(step.device!, step.containerId);
        if (started !== null) this.forgetMacs(started);
        return { started };
      }
      case 'stop':
        await this.dhcpStop(step.device);
        await this.wifiTeardown(step.device);
        await this.nicReturn(step.device, step.containerId);
        return ignore304(docker.getContainer(step.containerId).stop({ t: STOP_TIMEOUT_S }));
      case 'restart':
        await this.nicReturn(step.device, step.containerId);
        await this.leasesGone(step.device!);
        await docker.getContainer(step.containerId).restart({ t: STOP_TIMEOUT_S });
        this.forgetMacs(step.containerId);
        return;
      case 'connectSelf':
        try {
          await docker.getNetwork(step.network).connect({ Container: this.d.selfContainerId! });
        } catch (e) {
          if (!/already exists|already attached/i.test(messageOf(e))) throw e;
        }
        return;
      case 'forget':
        await this.d.store.update('status', (s) => {
          if (s.runtimes[step.device!]?.deletion || s.agent.uninstall) delete s.runtimes[step.device!];
        });
        return;
      case 'adopt':
        return this.adopt(step.device!, step.containerId);
      case 'fixMac':
        return this.fixMac(step.device!, step.containerId, step.network, step.parent, step.mac);
      case 'updateLimits':
        return this.updateLimits(step.device!, step.containerId);
      case 'dhcpStart':
        return this.dhcpStart(step.device!, step.containerId, step.vnic, step.mac);
      case 'wifiPath':
        return this.wifiPath(step);
      case 'wifiDhcpStart':
        return this.wifiDhcpStart(step.device!, step.containerId, step.vnic, step.parent);
      case 'nicMove':
        return this.nicMove(step.device!, step.containerId, step.nic);
      case 'serialNode':
        return this.serialNode(step.device!, step.containerId, step.path, step.major, step.minor, step.hostPath, step.grant);
      case 'serialNodeRemove':
        return this.serialNodeRemove(step.device!, step.containerId, step.path);
      case 'uninstall':
        return this.uninstall(step.stage);
      case 'upgradeBegin':
        return this.upgradeBegin(step);
      case 'probeReady':
        return this.probeReady(step.containerId);
      case 'upgradeEnd':
        return this.upgradeEnd(step);
      case 'agentUpdate':
        return this.d.agentUpdate?.();
      case 'wait':
        return;
    }
  }

  /**
   * The MAC promise (CONTRACT §7): Docker ignores a requested MAC on a network connected to a running
   * container and on a second MACVLAN network below API 1.44, and re-applies its own on every start.
   * There the MAC is set inside the container's namespace through netmon, and remembered.
   */
  private async fixMac(name: string, id: string, network: string, parent: string, mac: string): Promise<void> {
    const c = await this.d.docker.getContainer(id).inspect();
    const ep = c.NetworkSettings.Networks?.[network];
    if (!c.State.Running || !c.State.Pid || !ep) return;
    if (!this.d.setMac) throw new StepError(`${network}: Docker gave the endpoint ${ep.MacAddress}; netmon is needed to set ${mac}`, 'network', 'MacNotApplied');
    try {
      // The endpoint's interface is the one on its parent: its address may be a lease by now, and after an
      // agent restart its MAC may already be the promised one (then nothing changes).
      await this.d.setMac(c.State.Pid, parent, mac);
    } catch (e) {
      throw new StepError(`${network}: cannot set MAC ${mac} in the namespace of ${name}: ${(e as Error).message}`, 'network', 'MacNotApplied');
    }
    this.nsMacs.set(`${id}/${network}`, mac);
    this.d.log.info({ device: name, network, dockerMac: ep.MacAddress, mac }, 'MAC set in the container namespace (Docker ignored the requested one)');
  }

  /**
   * Takes over the Python agent's container without touching it: restart policy `no` (the agent starts
   * runtimes itself), and the MACs and static addresses it has now become its spec's (CONTRACT §8). Docker
   * cannot label an existing container, so the adoption is recorded in the state file.
   */
  private async adopt(name: string, id: string): Promise<void> {
    const c = this.d.docker.getContainer(id);
    const info = await c.inspect();
    const endpoints = withNamespace(await macvlanEndpoints(this.d.docker, info), await this.namespaceOf(name, info));
    await c.update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
    await this.d.store.update('desired', (s) => {
      const r = s.runtimes[name];
      if (!r) return;
      r.spec = keepIdentity(r.spec, endpoints);
      r.adoption = { containerId: id, specHash: specHash(r.spec) };
      // A `dhcp` vNIC that holds a lease (not Docker's address): its client asks for that address again
      // instead of flushing it, so the PLC keeps it through the adoption.
      for (const v of r.spec.vnics.filter((x) => x.mode === 'dhcp')) {
        const leased = endpoints.find((e) => e.parent === v.parentInterface)?.leased;
        if (leased && !r.status.dhcp[v.name]) {
          r.status.dhcp[v.name] = { event: 'pending', ip: leased, prefix: null, gateway: null, dns: [], leaseTime: null, message: null, at: new Date().toISOString() };
        }
      }
    });
    this.d.log.info({ device: name, container: id, macs: endpoints.map((e) => `${e.network}=${e.mac}`) }, 'adopted the Python agent container (restart policy now no; MACs and addresses kept)');
  }

  /**
   * The interfaces in a running container's namespace (netmon's `get_macs`): the MACs the LAN knows it by,
   * whatever Docker's endpoint records say. Null when the container does not run or netmon cannot tell.
   */
  private async namespaceOf(name: string, info: Docker.ContainerInspectInfo): Promise<NsIface[] | null> {
    if (!info.State.Running || !info.State.Pid || !this.d.netmon) return null;
    const a = await this.d.netmon({ command: 'get_macs', pid: info.State.Pid });
    if (a.success === true && Array.isArray(a.interfaces)) return a.interfaces as NsIface[];
    this.d.log.warn({ device: name, err: a.error }, "the container's namespace could not be read: its MACs are taken from Docker's endpoint records");
    return null;
  }

  /**
   * The interface a `dhcp` vNIC's lease was on is going (a re-attach, a start in a new namespace): the lease
   * is `pending` until the new client reports, so no status shows an address the runtime does not have.
   */
  private async leasesGone(name: string, network?: string): Promise<void> {
    const rec = this.d.store.state.runtimes[name];
    // MACVLAN vNICs only: a Wi-Fi vNIC's client runs on the host parent, and its lease outlives the namespace.
    const gone = rec
      ? attachmentsOf(rec.spec, this.d.store.state.host.interfaces)
          .filter((a) => !a.wifi && a.vnic.mode === 'dhcp' && (network === undefined || network.startsWith(`macvlan_${a.parent}_`)) && isBound(rec.status.dhcp[a.vnic.name]))
      : [];
    if (gone.length === 0) return;
    await this.d.store.update('status', (s) => {
      const st = s.runtimes[name]?.status;
      if (!st) return;
      for (const a of gone) {
        const l = st.dhcp[a.vnic.name];
        if (l) l.event = 'pending';
        // The endpoints the pass wrote show the lease too: cleared with it, before the interface goes, so that
        // no reader sees an address the namespace no longer has until the next pass rewrites them (§9.1).
        for (const [n, e] of Object.entries(st.endpoints)) if (n.startsWith(`macvlan_${a.parent}_`)) e.ip = null;
      }
    });
  }

  /** A (re)started container has a new network namespace: MACs set and DHCP clients of the old one are gone. */
  forgetMacs(containerId: string): void {
    for (const k of this.nsMacs.keys()) if (k.startsWith(`${containerId}/`)) this.nsMacs.delete(k);
    for (const k of this.dhcpClients.keys()) if (k.startsWith(`${containerId}/`)) this.dhcpClients.delete(k);
    for (const k of this.serialNodes.keys()) if (k.startsWith(`${containerId}/`)) this.serialNodes.delete(k);
    for (const k of this.wifiPaths.keys()) if (k.startsWith(`${containerId}/`)) this.wifiPaths.delete(k);
  }

  /** netmon builds the proxy-ARP path of a static vNIC on a Wi-Fi parent in the container's namespace (CONTRACT §9.2). */
  private async wifiPath(step: Extract<Step, { action: 'wifiPath' }>): Promise<void> {
    const name = step.device!;
    if (!this.d.netmon) throw new StepError(`${step.vnic}: a Wi-Fi parent needs netmon (proxy ARP)`, 'network', 'ProxyArpUnavailable');
    const pid = await this.pidOf(step.containerId);
    if (pid === null) return;
    const a = await this.d.netmon({ command: 'proxy_arp_setup', container_name: name, vnic_name: step.vnic, pid, parent: step.parent, ip: step.ip, prefix: step.prefix, gateway: step.gateway });
    await this.recordHostChanges(a);
    if (a.success !== true) throw new StepError(`${step.vnic}: proxy-ARP path on ${step.parent} not built: ${typeof a.error === 'string' ? a.error : 'netmon refused'}`, 'network', 'ProxyArpFailed');
    this.wifiPaths.set(`${step.containerId}/${step.vnic}`, wifiPathKey({ ...step, index: step.parentIndex ?? undefined }));
  }

  /** netmon's DHCP client on the Wi-Fi parent, for a `dhcp` vNIC there (option 61 = `<runtime>:<vnic>`). */
  private async wifiDhcpStart(name: string, id: string, vnic: string, parent: string): Promise<void> {
    if (!this.d.netmon) throw new StepError(`${vnic}: a Wi-Fi parent needs netmon (proxy ARP)`, 'network', 'DhcpUnavailable');
    const pid = await this.pidOf(id);
    if (pid === null) return;
    const last = this.d.store.state.runtimes[name]?.status.dhcp[vnic]?.ip ?? undefined;
    const a = await this.d.netmon({ command: 'wifi_dhcp_start', container_name: name, vnic_name: vnic, pid, parent, ...(last ? { request_ip: last } : {}) });
    await this.recordHostChanges(a);
    if (a.success !== true) throw new StepError(`${vnic}: DHCP client on ${parent} not started: ${typeof a.error === 'string' ? a.error : 'netmon refused'}`, 'network', 'DhcpUnavailable');
    this.dhcpClients.set(`${id}/${vnic}`, name);
  }

  /** Before the agent takes a runtime down: its proxy-ARP paths (and Wi-Fi DHCP clients) go (best effort). */
  private async wifiTeardown(name: string | null): Promise<void> {
    const rec = name === null ? undefined : this.d.store.state.runtimes[name];
    const wifi = rec ? attachmentsOf(rec.spec, this.d.store.state.host.interfaces).filter((x) => x.wifi) : [];
    if (name === null || wifi.length === 0 || !this.d.netmon) return;
    const a = await this.d.netmon({ command: 'proxy_arp_teardown', container_name: name }).catch((e: Error) => ({ success: false, error: e.message }));
    await this.recordHostChanges(a);
    if (a.success !== true) this.d.log.warn({ device: name, err: a.error }, 'proxy-ARP path not torn down');
    // The Wi-Fi clients released their leases: the next start asks again.
    this.forgetDhcp(name);
    if (!wifi.some((x) => x.vnic.mode === 'dhcp')) return;
    await this.d.store.update('status', (s) => {
      for (const x of wifi) {
        const l = x.vnic.mode === 'dhcp' && s.runtimes[name]?.status.dhcp[x.vnic.name];
        if (l) l.event = 'pending';
      }
    });
  }

  /** What netmon owns on the host for proxy-ARP paths goes into the state file's host section (CONTRACT §9.2). */
  private async recordHostChanges(answer: Record<string, unknown>): Promise<void> {
    if (!Array.isArray(answer.host_changes)) return;
    const changes = (answer.host_changes as unknown[]).filter((c): c is { kind: string } => typeof c === 'object' && c !== null && typeof (c as { kind?: unknown }).kind === 'string');
    await this.d.store.update('host', (s) => {
      if (JSON.stringify(s.host.hostChanges) !== JSON.stringify(changes)) s.host.hostChanges = changes;
    });
  }

  /** The running container's pid (its network namespace), or null when it does not run. */
  private async pidOf(id: string): Promise<number | null> {
    try {
      const c = await this.d.docker.getContainer(id).inspect();
      return c.State.Running && c.State.Pid ? c.State.Pid : null;
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  /** netmon moves the dedicated NIC into the runtime's namespace (CONTRACT §9.3). */
  private async nicMove(name: string, id: string, nic: string): Promise<void> {
    if (!this.d.netmon) throw new StepError(`dedicated NIC ${nic}: netmon is needed to move it`, 'network', 'NicUnavailable');
    const pid = await this.pidOf(id);
    if (pid === null) return;
    const a = await this.d.netmon({ command: 'nic_move', interface: nic, pid, container_name: name });
    if (a.success !== true) throw new StepError(`dedicated NIC ${nic} not moved into ${name}: ${typeof a.error === 'string' ? a.error : 'netmon refused'}`, 'network', 'NicNotMoved');
    if (a.moved === true) this.d.log.info({ device: name, nic }, 'dedicated NIC moved into the runtime');
  }

  /**
   * Before the agent stops a runtime, its dedicated NIC goes back to the host: a veth would die with the
   * namespace, and a physical NIC would be down until the kernel noticed (best effort: never blocks the stop).
   */
  private async nicReturn(name: string | null, id: string): Promise<void> {
    const nic = name === null ? undefined : this.d.store.state.runtimes[name]?.spec.dedicatedInterface;
    if (nic === undefined || !this.d.netmon) return;
    const pid = await this.pidOf(id).catch(() => null);
    if (pid === null) return;
    // A netmon that is restarting is waited for a little (a veth would die with the namespace).
    let a: Record<string, unknown>;
    for (const deadline = monoNow() + NIC_RETURN_WAIT_MS; ; await new Promise((r) => setTimeout(r, 250))) {
      a = await this.d.netmon({ command: 'nic_return', interface: nic, pid }).catch((e: Error) => ({ success: false, error: e.message }));
      if (a.success === true || a.error !== 'Not connected to network monitor' || monoNow() > deadline) break;
    }
    if (a.success !== true) this.d.log.warn({ device: name, nic, err: a.error }, 'dedicated NIC not returned to the host before the stop');
    else if (a.returned === true) this.d.log.info({ device: name, nic }, 'dedicated NIC returned to the host');
  }

  /**
   * netmon makes the serial device's node at `path` in the running container, with the host device's major
   * and minor, from outside (nothing of the runtime image is used: CONTRACT §9.4); `grant` lets the container
   * open it too (cgroup v1). No restart.
   */
  private async serialNode(name: string, id: string, path: string, major: number, minor: number, hostPath: string, grant: boolean): Promise<void> {
    if (!this.d.netmon) throw new StepError(`serial node ${path} in ${name}: serial ports need netmon`, 'container', 'SerialNodeFailed');
    const pid = await this.pidOf(id);
    if (pid === null) return;
    const a = await this.d.netmon({ command: 'serial_node', pid, path, major, minor, grant });
    if (a.success !== true) throw new StepError(`serial node ${path} in ${name}: ${typeof a.error === 'string' ? a.error : 'netmon refused'}`, 'container', 'SerialNodeFailed');
    // Made in a container that restarted meanwhile (a new /dev): not recorded, the next pass makes it again.
    if ((await this.pidOf(id)) !== pid) return;
    this.serialNodes.set(`${id}/${path}`, `${major}:${minor}`);
    this.d.log.info({ device: name, path, hostPath, major, minor, granted: grant }, 'serial device node made in the runtime');
  }

  /** The device of a node is unplugged: the node goes, so no later device of that number is reachable through it. */
  private async serialNodeRemove(name: string, id: string, path: string): Promise<void> {
    if (!this.d.netmon) throw new StepError(`serial node ${path} in ${name}: serial ports need netmon`, 'container', 'SerialNodeFailed');
    const pid = await this.pidOf(id);
    if (pid !== null) {
      const a = await this.d.netmon({ command: 'serial_node_remove', pid, path });
      if (a.success !== true) throw new StepError(`serial node ${path} in ${name}: ${typeof a.error === 'string' ? a.error : 'netmon refused'}`, 'container', 'SerialNodeFailed');
    }
    this.serialNodes.delete(`${id}/${path}`);
    this.d.log.info({ device: name, path }, 'serial device node removed from the runtime (device unplugged)');
  }

  /** The client of a runtime's vNIC (or of all its vNICs) is gone: the next pass starts it again. */
  forgetDhcp(name: string, vnic?: string): void {
    for (const [k, n] of this.dhcpClients) if (n === name && (vnic === undefined || k.endsWith(`/${vnic}`))) this.dhcpClients.delete(k);
  }

  /** netmon runs the DHCP client of a `dhcp` vNIC in the container's namespace, on the interface with its MAC. */
  private async dhcpStart(name: string, id: string, vnic: string, mac: string): Promise<void> {
    if (!this.d.netmon) throw new StepError(`${vnic}: a DHCP lease needs netmon`, 'network', 'DhcpUnavailable');
    const c = await this.d.docker.getContainer(id).inspect();
    if (!c.State.Running || !c.State.Pid) return;
    const last = this.d.store.state.runtimes[name]?.status.dhcp[vnic]?.ip ?? undefined;
    const a = await this.d.netmon({ command: 'dhcp_start', pid: c.State.Pid, mac, container_name: name, vnic_name: vnic, ...(last ? { request_ip: last } : {}) });
    if (a.success !== true) throw new StepError(`${vnic}: DHCP client not started: ${typeof a.error === 'string' ? a.error : 'netmon refused'}`, 'network', 'DhcpUnavailable');
    this.dhcpClients.set(`${id}/${vnic}`, name);
  }

  /** Before the agent takes a runtime down: its DHCP clients release their leases (best effort). */
  private async dhcpStop(name: string | null): Promise<void> {
    const rec = name === null ? undefined : this.d.store.state.runtimes[name];
    if (!rec || !this.d.netmon || !rec.spec.vnics.some((v) => v.mode === 'dhcp')) return;
    await this.d.netmon({ command: 'dhcp_stop', container_name: name }).catch(() => undefined);
  }

  /** Removes the netmon sidecar, then the agent's own container (found by label, not by name). */
  private async uninstall(stage: string): Promise<void> {
    const role = stage === 'deleting_netmon' ? 'netmon' : stage === 'removing_self' ? 'orchestrator-agent' : null;
    if (role === null) return;
    if (role === 'netmon' && this.d.netmon) {
      // Upstream's cleaning_proxy_arp: whatever proxy-ARP paths are left go with netmon (best effort).
      const a: Record<string, unknown> = await this.d.netmon({ command: 'proxy_arp_cleanup' }).catch((e: Error) => ({ success: false, error: e.message }));
      await this.recordHostChanges(a);
      if (a.success !== true) this.d.log.warn({ err: a.error }, 'uninstall: proxy-ARP paths not cleaned up');
    }
    if (role === 'orchestrator-agent') {
      // The end is recorded before this process goes with its container: the kept volume must never tell a
      // freshly installed agent that an uninstall is still under way.
      await this.d.store.update('desired', (s) => {
        if (s.agent.uninstall) s.agent.uninstall = { ...s.agent.uninstall, step: 'done', error: null };
      });
    }
    const byLabel = await this.d.docker.listContainers({ all: true, filters: { label: [`${LABEL.role}=${role}`] } });
    const ids = new Set(byLabel.map((c) => c.Id));
    if (role === 'netmon') {
      const byName = await this.d.docker.listContainers({ all: true, filters: { name: ['^/autonomy_netmon$'] } });
      for (const c of byName) ids.add(c.Id);
    }
    for (const id of ids) {
      this.d.log.warn({ container: id, role }, `uninstall: removing the ${role} container`);
      const c = this.d.docker.getContainer(id);
      // Our own container: one forced remove, which the engine finishes even after this process is gone.
      if (role === 'netmon') await ignore404(ignore304(c.stop({ t: STOP_TIMEOUT_S })));
      await ignore404(c.remove({ force: true }));
    }
  }

  /** The disk guard's image GC: without force, so Docker refuses an image a container uses. */
  async removeImage(id: string, refs: readonly string[]): Promise<void> {
    for (const r of refs) this.imagesPresent.delete(r);
    await withTimeout(this.d.docker.getImage(id).remove(), CALL_TIMEOUT_MS, `remove image ${refs[0] ?? id}`);
  }

  /** Records the rollback target of an upgrade durably before the old container is removed. */
  private async upgradeBegin(step: Extract<Step, { action: 'upgradeBegin' }>): Promise<void> {
    const name = step.device!;
    if (step.containerId !== null) this.probes.delete(step.containerId); // an unproven container's gate starts again
    await this.d.store.update('status', (s) => {
      const r = s.runtimes[name];
      if (!r) return;
      r.status.upgrade = { generation: r.generation, stage: 'rollingOut', from: step.from, toImage: step.toImage, startedAt: new Date().toISOString() };
    });
    this.d.log.info({ device: name, from: step.from.image, to: step.toImage }, 'runtime upgrade: rollback target recorded');
  }

  /** One readiness probe of a new version: GET /api/version on its internal address (self-signed HTTPS, unauthenticated). */
  private async probeReady(id: string): Promise<void> {
    let detail: string;
    let ready = false;
    const info = await this.d.docker.getContainer(id).inspect().catch((e: unknown) => {
      if (statusOf(e) === 404) return null;
      throw e;
    });
    if (info === null) return;
    const name = info.Name.replace(/^\//, '');
    const ip = info.NetworkSettings.Networks?.[internalNetworkName(name)]?.IPAddress;
    if (!info.State.Running) detail = `not running (${info.State.Status}, exit ${info.State.ExitCode})`;
    else if (!ip) detail = `no address on ${internalNetworkName(name)}`;
    else {
      const port = this.d.runtimePort ?? 8443;
      const url = new URL(`${port === 8443 ? 'https' : 'http'}://${ip}:${port}${READY_PATH}`);
      const r = await requestRuntime({ url, method: 'GET', headers: {}, body: null, timeoutMs: READY_PROBE_TIMEOUT_MS });
      ready = r.ok;
      // No answer (refused, timed out) comes back as a synthetic response without headers: its error says why.
      const body = r.body;
      detail = Object.keys(r.headers).length === 0 && typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : `HTTP ${r.status_code}`;
    }
    const now = performance.now();
    const prev = this.probes.get(id);
    this.probes.set(id, { since: prev?.since ?? now, last: now, ready: ready || (prev?.ready ?? false), detail });
  }

  /** The probes as the planner sees them (`timeoutMs`: ORCH_RUNTIME_READY_TIMEOUT_MS). */
  readiness(timeoutMs: number): Map<string, Readiness> {
    const now = performance.now();
    const wall = Date.now();
    return new Map(
      [...this.probes].map(([id, p]) => [id, { ready: p.ready, expired: !p.ready && now - p.since >= timeoutMs, nextProbeAt: wall + Math.max(0, p.last + READY_PROBE_INTERVAL_MS - now), detail: p.detail }]),
    );
  }

  /**
   * Ends an upgrade: a ready version's record goes; one that never became ready is rolled back when the
   * previous image is still local, else held stopped (the planner carries either out, step by step).
   */
  private async upgradeEnd(step: Extract<Step, { action: 'upgradeEnd' }>): Promise<void> {
    const name = step.device!;
    const u = this.d.store.state.runtimes[name] && currentUpgrade(this.d.store.state.runtimes[name]);
    if (!u) return;
    if (step.outcome === 'ready') {
      await this.d.store.update('status', (s) => void delete s.runtimes[name]?.status.upgrade);
      this.d.log.info({ device: name, from: u.from.image, to: u.toImage }, 'runtime upgraded: the new version is ready');
      return;
    }
    let present = true;
    try {
      await withTimeout(this.d.docker.getImage(u.from.image).inspect(), CALL_TIMEOUT_MS, `inspect image ${u.from.image}`);
      this.imagesPresent.add(u.from.image);
    } catch (e) {
      if (statusOf(e) !== 404) throw new StepError(`image ${u.from.image}: ${messageOf(e)}`, 'image', 'ImageError');
      present = false;
    }
    const reason = present
      ? `${step.detail}; rolled back to ${u.from.spec.runtimeVersion}`
      : `${step.detail}; the previous image ${u.from.image} is no longer local: held stopped until a new order`;
    await this.d.store.update('status', (s) => {
      const r = s.runtimes[name];
      if (!r?.status.upgrade || r.status.upgrade.generation !== u.generation) return;
      r.status.upgrade = { ...r.status.upgrade, stage: present ? 'rolledBack' : 'held', failedVersion: r.spec.runtimeVersion, reason, endedAt: new Date().toISOString() };
    });
    this.d.log.warn({ device: name, failedVersion: u.toImage, previous: u.from.image }, `runtime upgrade failed: ${reason}`);
  }

  private async createNetwork(opts: Docker.NetworkCreateOptions): Promise<void> {
    try {
      await this.d.docker.createNetwork({ CheckDuplicate: true, ...opts });
    } catch (e) {
      if (statusOf(e) === 409) return; // created meanwhile: the next pass compares it
      throw new StepError(`network ${opts.Name}: ${messageOf(e)}`, 'network', 'NetworkError');
    }
  }

  /**
   * Pull before kill must not trust `imagesPresent` alone: an image pruned since it was seen would let the
   * old container go and the create fail. Inspected right before the remove; a missing one is forgotten
   * (the next pass plans its pull) and the step fails without touching the old container.
   */
  private async assertStillLocal(image: string): Promise<void> {
    try {
      await withTimeout(this.d.docker.getImage(image).inspect(), CALL_TIMEOUT_MS, `inspect image ${image}`);
    } catch (e) {
      if (statusOf(e) !== 404) throw new StepError(`image ${image}: ${messageOf(e)}`, 'image', 'ImageError');
      this.imagesPresent.delete(image);
      throw new StepError(`image ${image} is no longer local: the running container stays until it is pulled again`, 'image', 'ImageMissing');
    }
  }

  /** Makes `image` local (inspect, else pull with a deadline); a failure is ImageReady=False, never a crash. */
  private async ensureImage(image: string): Promise<void> {
    const { docker } = this.d;
    try {
      await withTimeout(docker.getImage(image).inspect(), CALL_TIMEOUT_MS, `inspect image ${image}`);
      this.imagesPresent.add(image);
      return;
    } catch (e) {
      if (statusOf(e) !== 404) throw new StepError(`image ${image}: ${messageOf(e)}`, 'image', 'ImageError');
    }
    try {
      await this.d.admitPull?.(image);
    } catch (e) {
      // Refused before anything stops: the old container (if any) keeps running, ImageReady=False says why.
      throw new StepError(`image ${image}: ${messageOf(e)}`, 'image', 'DiskPressure');
    }
    try {
      await pullToEnd(docker, this.d.pullDocker ?? docker, image);
    } catch (e) {
      throw new StepError(`image ${image} is not present and could not be pulled: ${messageOf(e)}`, 'image', 'PullFailed');
    }
    this.imagesPresent.add(image);
  }

  /**
   * A new container is started in the step that made it (no reconcile pass between create and start), but
   * only if the record still asks for exactly that: a runtime deleted, stopped, re-specified or uninstalled
   * while it was being created is left created, and the next pass plans what it needs (DNH: never start it).
   */
  private async createAndStart(name: string): Promise<{ started: string | null }> {
    const generation = this.d.store.state.runtimes[name]?.generation;
    const id = await this.createContainer(name);
    if (id === null) return { started: null };
    await this.leasesGone(name);
    // Checked after the last await before the start: a change applied during the create or the lease write is seen.
    if (!this.stillWanted(name, generation)) return { started: null };
    const started = await this.start(name, id, false, generation);
    if (started !== null) this.forgetMacs(started);
    return { started };
  }

  /** The record still asks for this runtime running (`generation`: and for that spec). */
  private stillWanted(name: string, generation?: number): boolean {
    const rec = this.d.store.state.runtimes[name];
    return rec !== undefined && (generation === undefined || rec.generation === generation) && rec.running && rec.deletion === null && !this.d.store.state.agent.uninstall;
  }

  /** Makes the container (not started); null when the runtime is no longer declared. */
  private async createContainer(name: string): Promise<string | null> {
    const declared = this.d.store.state.runtimes[name];
    if (!declared) return null;
    // After a rolled-back upgrade: the previous spec and image (upgrade.ts).
    const rec = effectiveRecord(declared);
    // The runtime's own volume and internal network come with its container (both idempotent): one step
    // from nothing to a container instead of three reconcile passes.
    // Independent of each other: made side by side (one round trip less per create in a burst).
    await Promise.all([
      this.d.docker.createVolume({ Name: dataVolumeName(name), Labels: labelsFor('runtime-data', name) }),
      this.createNetwork({ Name: internalNetworkName(name), Driver: 'bridge', Internal: true, Labels: labelsFor('internal-network', name) }),
    ]);
    const image = targetImage(declared, this.d.runtimeImage);
    const input = {
      name,
      image,
      spec: rec.spec,
      specHash: specHash(rec.spec),
      ulimitsLabel: this.ulimits === WANTED_ULIMITS ? null : clampLabel(this.ulimits),
      attachments: attachmentsOf(rec.spec, this.d.store.state.host.interfaces).filter((a) => !a.wifi), // Wi-Fi vNICs: proxy ARP after start
      dns: mergedDns(rec.spec),
      ulimits: this.ulimits,
      deviceGrants: deviceGrants(rec.spec.serialConfigs ?? [], this.d.store.state.host.serialDevices, this.serialMajors),
      log: this.d.containerLog ?? null,
      limits: this.d.runtimeLimits,
    };
    const req = atLeast(await this.apiVersion(), 1, 44) ? request144(input) : requestBelow144(input);
    let container: Docker.Container;
    try {
      container = await this.d.docker.createContainer(req.create);
    } catch (e) {
      if (statusOf(e) === 404 && /image/i.test(messageOf(e))) {
        this.imagesPresent.delete(image); // removed behind our back: the next pass pulls it first
        throw new StepError(`create ${name}: ${messageOf(e)}`, 'image', 'ImageMissing');
      }
      // A container the agent does not own holds the name (it is not in the observed model): never removed.
      if (statusOf(e) === 409) throw new StepError(`create ${name}: a container the agent does not own holds the name (${messageOf(e)})`, 'container', 'NameTaken');
      throw new StepError(`create ${name}: ${messageOf(e)}`, 'container', 'CreateFailed');
    }
    try {
      for (const c of req.connect) await this.d.docker.getNetwork(c.network).connect({ Container: container.id, EndpointConfig: c.endpoint });
    } catch (e) {
      await container.remove({ force: true }).catch(() => undefined); // nothing half-made
      throw new StepError(`connect ${name}: ${messageOf(e)}`, 'network', 'NetworkError');
    }
    this.limitsCurrent.add(container.id);
    return container.id;
  }

  /** Returns the id of the container started (a clamp retry starts a re-created one), or null when the
   * record stopped asking for it during the retry (removed, or left created: the next pass plans the rest). */
  private async start(name: string, id: string, retried = false, generation?: number): Promise<string | null> {
    try {
      await ignore304(this.d.docker.getContainer(id).start());
      this.ulimitsVerified = true;
      return id;
    } catch (e) {
      const msg = messageOf(e);
      const leftover = isLeftoverTask(msg);
      if ((!isRlimitRefusal(msg) && !leftover) || retried) throw new StepError(`start ${name}: ${msg}`, 'container', 'StartFailed');
      if (leftover) {
        // An engine stopped while this container was starting keeps its containerd task after its restart,
        // and refuses every start of the container from then on (Docker 20.10, reliability.test.ts under load).
        // A new container is a new task; the data volume stays.
        this.d.log.warn({ device: name }, `start ${name}: the engine still holds a task of this container from before it restarted (${msg}); re-creating the container, its data volume stays`);
      } else if (this.ulimits === WANTED_ULIMITS) {
        // The host refuses rtprio/memlock: re-create with its hard limits (learned once) and say so.
        this.ulimits = clampUlimits(WANTED_ULIMITS, hostHardUlimits());
        this.d.log.warn({ device: name, ulimits: this.ulimits }, clampNote(this.ulimits));
      }
      await this.d.docker.getContainer(id).remove({ force: true });
      if (!this.stillWanted(name, generation)) return null;
      const created = await this.createContainer(name);
      if (created === null || !this.stillWanted(name, generation)) return null;
      return this.start(name, created, true, generation);
    }
  }
}

/** containerd's refusal to create the task of a container it still has one for. */
const isLeftoverTask = (message: string) => /\btask [0-9a-f]{64}: already exists\b/.test(message);

const isBound = (l: { event: string } | undefined) => l?.event === 'bound' || l?.event === 'renew';

async function ignore404<T>(p: Promise<T>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
}

async function ignore304<T>(p: Promise<T>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (statusOf(e) !== 304) throw e;
  }
}

async function wrapNetwork(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StepError) throw e;
    throw new StepError(messageOf(e), 'network', 'NetworkError');
  }
}
