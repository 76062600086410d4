// The two ways to ask Docker for a runtime container (CONTRACT §7), as pure functions:
// API < 1.44 takes one network at create (the first MACVLAN, whose MAC is honoured through
// Config.MacAddress); the rest are connected before start, the internal network last.
// API >= 1.44 takes every endpoint, each with its own MAC, at create.
import type Docker from 'dockerode';
import type { Attachment } from '../domain/attachments.js';
import type { ContainerLog } from '../config.js';
import type { RuntimeSpec } from '../domain/runtime-spec.js';
import { DATA_MOUNT, dataVolumeName, internalNetworkName, LABEL, labelsFor } from '../domain/names.js';

export interface RuntimeContainerInput {
  name: string;
  image: string;
  spec: RuntimeSpec;
  specHash: string;
  /** Set when the ulimits are clamped (`rtprio=…,memlock=…`): recorded on the container, it outlives the agent process. */
  ulimitsLabel: string | null;
  attachments: Attachment[]; // the MACVLAN ones, each with a known network (none: a runtime on Wi-Fi parents only)
  dns: string[];
  ulimits: { rtprio: number; memlock: number }; // -1 = unlimited
  /** With serial ports: the matched devices (`major:minor`) the container may open, as found at create. */
  deviceGrants: readonly string[];
  /** ORCH_CONTAINER_LOG: a bounded log (not in the spec hash: an existing container keeps its own). */
  log: ContainerLog;
  /** ORCH_RUNTIME_MEMORY_LIMIT / ORCH_RUNTIME_PIDS_LIMIT; null = none (Docker's default). */
  limits?: RuntimeLimits;
}

export interface RuntimeLimits {
  memory: number | null;
  pids: number | null;
}

/**
 * The HostConfig fields of the limits that are set (a create, or `docker update` of an existing container):
 * no swap beyond the memory limit (a PLC that swaps misses its scan cycle).
 */
export function limitsConfig(l: RuntimeLimits | undefined): { Memory?: number; MemorySwap?: number; PidsLimit?: number } {
  return {
    ...(l?.memory != null ? { Memory: l.memory, MemorySwap: l.memory } : {}),
    ...(l?.pids != null ? { PidsLimit: l.pids } : {}),
  };
}

export interface ContainerRequest {
  create: Docker.ContainerCreateOptions;
  /** Connected in order after create, before start. */
  connect: { network: string; endpoint: Docker.EndpointSettings }[];
}

export function endpointFor(a: Attachment): Docker.EndpointSettings {
  return {
    ...(a.ip !== null ? { IPAMConfig: { IPv4Address: a.ip } } : {}),
    MacAddress: a.mac,
  };
}

function base(input: RuntimeContainerInput): Docker.ContainerCreateOptions {
  const { rtprio, memlock } = input.ulimits;
  return {
    name: input.name,
    Image: input.image,
    Labels: {
      ...labelsFor('runtime', input.name),
      [LABEL.specHash]: input.specHash,
      // The store is never the only copy of a desired spec (CONTRACT §8).
      [LABEL.spec]: JSON.stringify(input.spec),
      ...(input.ulimitsLabel !== null ? { [LABEL.ulimits]: input.ulimitsLabel } : {}),
      ...(input.spec.serialConfigs ? { [LABEL.serialGrants]: input.deviceGrants.join(',') } : {}),
    },
    HostConfig: {
      RestartPolicy: { Name: 'no' },
      // Serial ports: netmon makes the nodes from outside, so no runtime may make one (no MKNOD: a PLC
      // program cannot reach /dev/tty1 or another runtime's adapter), and the device cgroup rules name
      // only the devices matched now; one matched later is granted by netmon (cgroup v1) or re-creates
      // the container (v2). A dedicated NIC is for raw-frame protocols. Not in the spec hash (CONTRACT §9.3,
      // §9.4, docs/runtime-containers.md).
      CapAdd: ['SYS_NICE', ...(input.spec.dedicatedInterface !== undefined ? ['NET_RAW', 'NET_ADMIN'] : [])],
      CapDrop: ['MKNOD'],
      ...(input.spec.serialConfigs ? { DeviceCgroupRules: input.deviceGrants.map((g) => `c ${g} rwm`) } : {}),
      Ulimits: [
        { Name: 'rtprio', Soft: rtprio, Hard: rtprio },
        { Name: 'memlock', Soft: memlock, Hard: memlock },
      ],
      Init: true,
      // Not in the spec hash: changing them re-creates nothing (existing containers get `docker update`).
      ...limitsConfig(input.limits),
      Mounts: [{ Type: 'volume', Source: dataVolumeName(input.name), Target: DATA_MOUNT }],
      ...(input.dns.length > 0 ? { Dns: input.dns } : {}),
      ...(input.log !== null ? { LogConfig: input.log } : {}),
    },
  };
}

export function requestBelow144(input: RuntimeContainerInput): ContainerRequest {
  const [first, ...rest] = input.attachments;
  if (!first) return request144(input); // its internal network only: one network at create either way
  if (!first.network) throw new Error(`vNIC ${first.vnic.name}: no MACVLAN network known yet`);
  const create = base(input);
  create.MacAddress = first.mac;
  create.HostConfig!.NetworkMode = first.network;
  create.NetworkingConfig = { EndpointsConfig: { [first.network]: endpointFor(first) } };
  return {
    create,
    connect: [
      ...rest.map((a) => ({ network: a.network!, endpoint: endpointFor(a) })),
      { network: internalNetworkName(input.name), endpoint: {} },
    ],
  };
}

export function request144(input: RuntimeContainerInput): ContainerRequest {
  const unknown = input.attachments.find((a) => !a.network);
  if (unknown) throw new Error(`vNIC ${unknown.vnic.name}: no MACVLAN network known yet`);
  const create = base(input);
  // The internal network never changes; API 1.45 refuses a connect while NetworkMode names a network that
  // is gone (a MACVLAN network replaced after a subnet change).
  create.HostConfig!.NetworkMode = internalNetworkName(input.name);
  create.NetworkingConfig = {
    EndpointsConfig: {
      ...Object.fromEntries(input.attachments.map((a) => [a.network!, endpointFor(a)])),
      [internalNetworkName(input.name)]: {},
    },
  };
  return { create, connect: [] };
}
