// Docker object names and labels the agent owns (CONTRACT §1). Other components rely on these exact names.
export const LABEL = {
  managed: 'edge.autonomy.managed',
  role: 'edge.autonomy.role',
  device: 'edge.autonomy.device',
  specHash: 'edge.autonomy.spec-hash',
  /** The normalized desired spec as JSON (like Kubernetes' last-applied annotation): state can be rebuilt from it. */
  spec: 'edge.autonomy.spec',
  /** Set when the container was created with ulimits clamped to the host's hard limits: the note survives agent restarts. */
  ulimits: 'edge.autonomy.ulimits-clamped',
  parent: 'edge.autonomy.parent',
  subnet: 'edge.autonomy.subnet',
  parentIndex: 'edge.autonomy.parent-ifindex',
  /** The serial devices a runtime container may open by its create-time cgroup rules: `major:minor,…` (CONTRACT §9.4). */
  serialGrants: 'edge.autonomy.serial-grants',
} as const;

export type Role = 'runtime' | 'internal-network' | 'macvlan-network' | 'runtime-data' | 'orchestrator-agent' | 'netmon';

export const ORCHESTRATOR_ID = '__orchestrator__';
/** What a stored runtime name may be: permissive, so a state file written before REQUEST_NAME_RE still loads. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** What a request may name a new runtime (CONTRACT §4): two characters or more, as Docker refuses one. */
export const REQUEST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$/;
export const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** The agent's and netmon's containers (CONTRACT §1): never a runtime's name, never touched by the planner. */
export const AGENT_CONTAINER = 'orchestrator_agent';
export const NETMON_CONTAINER = 'autonomy_netmon';
/** Why `name` can never be a runtime's container name, or null. */
export function reservedContainerName(name: string): string | null {
  const n = name.toLowerCase();
  if (n === AGENT_CONTAINER) return `${name} is the agent's own container`;
  if (n === NETMON_CONTAINER) return `${name} is the netmon sidecar's container`;
  return null;
}

export const internalNetworkName = (runtime: string) => `${runtime}_internal`;
export const dataVolumeName = (runtime: string) => `${runtime}_data`;
/** `macvlan_<parent>_<a.b.c.d>_<prefix>` from a CIDR like `192.168.1.0/24`. */
export const macvlanNetworkName = (parent: string, cidr: string) => `macvlan_${parent}_${cidr.replace('/', '_')}`;

export const DATA_MOUNT = '/var/run/runtime';

export function labelsFor(role: Role, device?: string): Record<string, string> {
  const l: Record<string, string> = { [LABEL.managed]: 'true', [LABEL.role]: role };
  if (device !== undefined) l[LABEL.device] = device;
  return l;
}
