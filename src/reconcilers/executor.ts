// Carries out one planned step through dockerode. Idempotent where Docker allows it (an object that is
// already there or already gone is success), and a failed container creation leaves nothing behind.
import type Docker from 'dockerode';
import type { ObservedContainer } from '../docker/observed.js';
import { apiVersion, atLeast, messageOf, statusOf } from '../docker/client.js';
import { request144, requestBelow144 } from '../docker/runtime-container-request.js';
import type { Logger } from '../log.js';
import { dataVolumeName, internalNetworkName, LABEL, labelsFor } from '../domain/names.js';
import { mergedDns } from '../domain/runtime-spec.js';
import { specHash } from '../domain/spec-hash.js';
import type { Store } from '../store/store.js';
import { attachmentsOf } from '../domain/attachments.js';
import { keepIdentity, macvlanEndpoints } from './container-identity.js';
import { wifiPathKey } from './planner.js';
import { requestRuntime } from '../runtime-api/runtime-http.js';
import { currentUpgrade, effectiveRecord, READY_PATH, READY_PROBE_INTERVAL_MS, READY_PROBE_TIMEOUT_MS, targetImage, type Readiness } from './upgrade.js';
import type { Step } from './steps.js';
import { clampLabel, clampNote, clampUlimits, hostHardUlimits, isRlimitRefusal, parseClampLabel, WANTED_ULIMITS, type Ulimits } from './ulimits.js';

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
  /** Sets a MAC inside a container's network namespace (through netmon); null when netmon is absent. */
  setMac: ((pid: number, ip: string, mac: string) => Promise<void>) | null;
  /** A netmon command (DHCP clients); answers `{success:false, error}` when netmon is not there. */
  netmon?: (cmd: Record<string, unknown>) => Promise<Record<string, unknown>>;
  /** ORCH_SERIAL_MAJORS (device cgroup rules of runtimes with serial ports). */
  serialMajors?: readonly number[];
  /** ORCH_RUNTIME_PORT: where a runtime's readiness is asked (HTTPS on 8443). */
  runtimePort?: number;
}

const STOP_TIMEOUT_S = 10;
/** How long a stop waits for netmon to hand a dedicated NIC back (the Python agent's 10 s). */
const NIC_RETURN_WAIT_MS = 10_000;
/** No single Docker call may hang a step for ever (a wedged engine): stop waits up to 10 s of its own. */
const CALL_TIMEOUT_MS = 60_000;
/** A pull on a slow plant uplink may take long, but not for ever. */
const PULL_TIMEOUT_MS = 15 * 60_000;

/** Rejects after `ms` (and runs `onTimeout`, e.g. to destroy a stream); the call itself cannot be cancelled. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what}: no answer from the engine within ${Math.round(ms / 1000)} s`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class Executor {
  ulimits: Ulimits = WANTED_ULIMITS;
  /** True once a runtime started with `ulimits` (or the clamp was learned): creates may then run in parallel. */
  ulimitsVerified = false;
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

  private api: [number, number] | null = null;

  constructor(private readonly d: ExecutorDeps) {}

  /**
   * A clamp learned by an earlier agent process is on the containers it made: later creates use it at once
   * instead of paying for it with a failed start again.
   */
  learnUlimits(containers: readonly ObservedContainer[]): void {
    if (this.ulimits !== WANTED_ULIMITS) return;
    for (const c of containers) {
      const u = parseClampLabel(c.labels[LABEL.ulimits]);
      if (u) {
        this.ulimits = u;
        this.ulimitsVerified = true;
        return;
      }
    }
  }

  /** The engine's API version, read once it is reachable (it picks the create request's shape). */
  async apiVersion(): Promise<[number, number]> {
    this.api ??= await apiVersion(this.d.docker);
    return this.api;
  }

  async run(step: Step): Promise<void> {
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
        return this.createContainer(step.device!);
      case 'removeContainer': {
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
        return wrapNetwork(ignore404(docker.getNetwork(step.network).disconnect({ Container: step.containerId, Force: true })));
      case 'start':
        await this.start(step.device!, step.containerId);
        this.forgetMacs(step.containerId);
        return;
      case 'stop':
        await this.dhcpStop(step.device);
        await this.wifiTeardown(step.device);
        await this.nicReturn(step.device, step.containerId);
        return ignore304(docker.getContainer(step.containerId).stop({ t: STOP_TIMEOUT_S }));
      case 'restart':
        await this.nicReturn(step.device, step.containerId);
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
        return this.fixMac(step.device!, step.containerId, step.network, step.mac);
      case 'dhcpStart':
        return this.dhcpStart(step.device!, step.containerId, step.vnic, step.mac);
      case 'wifiPath':
        return this.wifiPath(step);
      case 'wifiDhcpStart':
        return this.wifiDhcpStart(step.device!, step.containerId, step.vnic, step.parent);
      case 'nicMove':
        return this.nicMove(step.device!, step.containerId, step.nic);
      case 'serialNode':
        return this.serialNode(step.device!, step.containerId, step.path, step.major, step.minor, step.hostPath);
      case 'uninstall':
        return this.uninstall(step.stage);
      case 'upgradeBegin':
        return this.upgradeBegin(step);
      case 'probeReady':
        return this.probeReady(step.containerId);
      case 'upgradeEnd':
        return this.upgradeEnd(step);
      case 'wait':
        return;
    }
  }

  /**
   * The MAC promise (CONTRACT §7): Docker ignores a requested MAC on a network connected to a running
   * container and on a second MACVLAN network below API 1.44, and re-applies its own on every start.
   * There the MAC is set inside the container's namespace through netmon, and remembered.
   */
  private async fixMac(name: string, id: string, network: string, mac: string): Promise<void> {
    const c = await this.d.docker.getContainer(id).inspect();
    const ep = c.NetworkSettings.Networks?.[network];
    if (!c.State.Running || !c.State.Pid || !ep?.IPAddress) return;
    if (!this.d.setMac) throw new StepError(`${network}: Docker gave the endpoint ${ep.MacAddress}; netmon is needed to set ${mac}`, 'network', 'MacNotApplied');
    try {
      await this.d.setMac(c.State.Pid, ep.IPAddress, mac);
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
    const endpoints = await macvlanEndpoints(this.d.docker, info);
    await c.update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
    await this.d.store.update('desired', (s) => {
      const r = s.runtimes[name];
      if (!r) return;
      r.spec = keepIdentity(r.spec, endpoints);
      r.adoption = { containerId: id, specHash: specHash(r.spec) };
    });
    this.d.log.info({ device: name, container: id, macs: endpoints.map((e) => `${e.network}=${e.mac}`) }, 'adopted the Python agent container (restart policy now no; MACs and addresses kept)');
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
    for (const deadline = Date.now() + NIC_RETURN_WAIT_MS; ; await new Promise((r) => setTimeout(r, 250))) {
      a = await this.d.netmon({ command: 'nic_return', interface: nic, pid }).catch((e: Error) => ({ success: false, error: e.message }));
      if (a.success === true || a.error !== 'Not connected to network monitor' || Date.now() > deadline) break;
    }
    if (a.success !== true) this.d.log.warn({ device: name, nic, err: a.error }, 'dedicated NIC not returned to the host before the stop');
    else if (a.returned === true) this.d.log.info({ device: name, nic }, 'dedicated NIC returned to the host');
  }

  /**
   * Makes the serial device's node at `path` inside the running container, with the host device's major and
   * minor (CONTRACT §9.4): no restart, the device cgroup rules of the container allow opening it.
   */
  private async serialNode(name: string, id: string, path: string, major: number, minor: number, hostPath: string): Promise<void> {
    const script = 'mkdir -p "$(dirname "$1")" && rm -f "$1" && mknod -m 666 "$1" c "$2" "$3"';
    const startedAt = async () => (await this.d.docker.getContainer(id).inspect()).State.StartedAt;
    const before = await startedAt();
    const exec = await this.d.docker.getContainer(id).exec({ Cmd: ['sh', '-c', script, 'sh', path, String(major), String(minor)], User: '0', AttachStdout: true, AttachStderr: true });
    const stream = await withTimeout(exec.start({}), CALL_TIMEOUT_MS, `exec in ${name}`);
    let out = '';
    stream.on('data', (d: Buffer) => (out = (out + d.toString('latin1')).slice(-2000)));
    await withTimeout(new Promise((r) => stream.on('end', r)), CALL_TIMEOUT_MS, `exec in ${name}`, () => stream.destroy());
    const code = (await exec.inspect()).ExitCode;
    if (code !== 0) {
      // Docker's multiplexed frames carry 8-byte headers: keep the printable text.
      const text = out.replace(/[^\x20-\x7e\n]/g, '').trim();
      throw new StepError(`serial node ${path} in ${name}: exit ${code}${text ? `: ${text}` : ''}`, 'container', 'SerialNodeFailed');
    }
    // Made in a container that restarted meanwhile (a new /dev): not recorded, the next pass makes it again.
    if ((await startedAt()) !== before) return;
    this.serialNodes.set(`${id}/${path}`, `${major}:${minor}`);
    this.d.log.info({ device: name, path, hostPath, major, minor }, 'serial device node made in the runtime');
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
      const stream = await withTimeout((this.d.pullDocker ?? docker).pull(image), CALL_TIMEOUT_MS, `pull ${image}`);
      await withTimeout(
        new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()))),
        PULL_TIMEOUT_MS,
        `pull ${image}`,
        () => (stream as unknown as { destroy?: () => void }).destroy?.(),
      );
    } catch (e) {
      throw new StepError(`image ${image} is not present and could not be pulled: ${messageOf(e)}`, 'image', 'PullFailed');
    }
    this.imagesPresent.add(image);
  }

  private async createContainer(name: string): Promise<void> {
    const declared = this.d.store.state.runtimes[name];
    if (!declared) return;
    // After a rolled-back upgrade: the previous spec and image (upgrade.ts).
    const rec = effectiveRecord(declared);
    // The runtime's own volume and internal network come with its container (both idempotent): one step
    // from nothing to a container instead of three reconcile passes.
    await this.d.docker.createVolume({ Name: dataVolumeName(name), Labels: labelsFor('runtime-data', name) });
    await this.createNetwork({ Name: internalNetworkName(name), Driver: 'bridge', Internal: true, Labels: labelsFor('internal-network', name) });
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
      serialMajors: this.d.serialMajors ?? [188, 166, 4],
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
      throw new StepError(`create ${name}: ${messageOf(e)}`, 'container', 'CreateFailed');
    }
    try {
      for (const c of req.connect) await this.d.docker.getNetwork(c.network).connect({ Container: container.id, EndpointConfig: c.endpoint });
    } catch (e) {
      await container.remove({ force: true }).catch(() => undefined); // nothing half-made
      throw new StepError(`connect ${name}: ${messageOf(e)}`, 'network', 'NetworkError');
    }
  }

  private async start(name: string, id: string, retried = false): Promise<void> {
    try {
      await ignore304(this.d.docker.getContainer(id).start());
      this.ulimitsVerified = true;
    } catch (e) {
      const msg = messageOf(e);
      if (!isRlimitRefusal(msg) || retried) throw new StepError(`start ${name}: ${msg}`, 'container', 'StartFailed');
      // The host refuses rtprio/memlock: re-create with its hard limits (learned once) and say so.
      if (this.ulimits === WANTED_ULIMITS) {
        this.ulimits = clampUlimits(WANTED_ULIMITS, hostHardUlimits());
        this.d.log.warn({ device: name, ulimits: this.ulimits }, clampNote(this.ulimits));
      }
      await this.d.docker.getContainer(id).remove({ force: true });
      await this.createContainer(name);
      const created = await this.d.docker.getContainer(name).inspect();
      await this.start(name, created.Id, true);
    }
  }
}

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
