// The state file (CONTRACT §8): desired spec + status per runtime, host facts. Validated on every read and write.
// Objects are loose: keys this agent does not know (a newer agent's, of the same schema version) survive a
// rewrite. The version is bumped only for a change an older agent would misread (migrations.ts).
import * as z from 'zod';
import { runtimeSpecSchema } from '../domain/runtime-spec.js';
import { serialDeviceSchema } from '../netmon/protocol.js';

export const SCHEMA_VERSION = 1;

/** The uninstall's progress steps, in order (visible under `__orchestrator__`). */
export const UNINSTALL_STAGES = ['deleting_runtimes', 'cleaning_networks', 'deleting_netmon', 'removing_self', 'done'] as const;
export type UninstallStage = (typeof UNINSTALL_STAGES)[number];

/** The self-update's progress steps (reference §18.4 plus `trial`, `done`), visible under `__orchestrator__`. */
export const AGENT_UPDATE_STEPS = ['starting', 'pulling_images', 'spawning_upgrader', 'upgrader_spawned', 'trial', 'done'] as const;
export type AgentUpdateStep = (typeof AGENT_UPDATE_STEPS)[number];

/**
 * upgrade_orchestrator's order and progress (docs/updates.md). Optional and loose, so no schema bump: an
 * older agent (a rolled-back one) keeps it as an unknown key.
 */
export const agentUpdateSchema = z.looseObject({
  requestedAt: z.string(),
  updatedAt: z.string(),
  /** The full reference to pull. */
  image: z.string(),
  /** `sha256:…` the pulled image's RepoDigests must hold; null: not checked. */
  digest: z.string().nullable(),
  step: z.enum(AGENT_UPDATE_STEPS),
  error: z.string().nullable(),
  /** The agent container that was asked (null outside a container). */
  byContainer: z.string().nullable(),
  /** The version that ran before (set with `done`). */
  previousVersion: z.string().optional(),
  /** Extension: netmon's new image (full reference) and the digest it must have; absent or null: netmon stays. */
  netmonImage: z.string().nullable().optional(),
  netmonDigest: z.string().nullable().optional(),
  /** `swapping` while the agent swaps netmon (src/update/netmon-swap.ts; reported as step `upgrading_netmon`), then `done`. */
  netmonStep: z.enum(['swapping', 'done']).optional(),
});
export type AgentUpdate = z.infer<typeof agentUpdateSchema>;

export const conditionSchema = z.object({
  type: z.enum(['ImageReady', 'NetworkReady', 'ContainerReady', 'Running']),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
});
export type Condition = z.infer<typeof conditionSchema>;

export const phaseSchema = z.enum(['Pending', 'Creating', 'Running', 'Stopped', 'Failed', 'Deleting']);
export type Phase = z.infer<typeof phaseSchema>;

/**
 * A runtime version upgrade: what a rollback needs (the spec and image the replaced container stood for),
 * and how it ended. `rollingOut`: the new version is being created or gated on its readiness;
 * `rolledBack`: it never became ready and the previous version runs again; `held`: it never became ready
 * and the previous image is gone, so the runtime is held stopped. The last two hold until a new order (a
 * new generation). Optional and loose: an older agent keeps it as it is.
 */
export const runtimeUpgradeSchema = z.looseObject({
  generation: z.number().int().positive(),
  stage: z.enum(['rollingOut', 'rolledBack', 'held']),
  from: z.looseObject({ spec: runtimeSpecSchema.loose(), image: z.string() }),
  toImage: z.string(),
  startedAt: z.string(),
  /** Set when it ended: the version that never became ready, why, and when. */
  failedVersion: z.string().optional(),
  reason: z.string().optional(),
  endedAt: z.string().optional(),
});
export type RuntimeUpgrade = z.infer<typeof runtimeUpgradeSchema>;

export const runtimeStatusSchema = z.looseObject({
  observedGeneration: z.number().int().nonnegative(),
  phase: phaseSchema,
  conditions: z.array(conditionSchema),
  lastError: z.string().nullable(),
  /** Restart requests carried out (compared with the record's restartCount). */
  restartCount: z.number().int().nonnegative(),
  /** Crash-loop state: consecutive unexpected exits and when the next start may happen. */
  crashCount: z.number().int().nonnegative(),
  /** Starts after crashes, ever: never goes down (restart_count of get_device_status). */
  crashRestarts: z.number().int().nonnegative().default(0),
  backoffUntil: z.string().nullable(),
  lastStartedAt: z.string().nullable(),
  /**
   * DHCP leases of `dhcp` vNICs as netmon reported them (observed, never the desired spec): vNIC name →
   * the last event. `pending` after a (re)start of the container until the new client reports.
   */
  dhcp: z
    .record(
      z.string(),
      z.looseObject({
        event: z.enum(['pending', 'bound', 'renew', 'lost', 'failed']),
        ip: z.string().nullable(),
        prefix: z.number().int().nullable(),
        gateway: z.string().nullable(),
        dns: z.array(z.string()),
        leaseTime: z.number().int().nullable(),
        message: z.string().nullable(),
        at: z.string(),
      }),
    )
    .default({}),
  /** Serial ports of `serialConfigs` as last derived (CONTRACT §9.4; get_device_status.serial_ports). */
  serialPorts: z
    .array(
      z.looseObject({
        name: z.string(),
        device_id: z.string(),
        container_path: z.string(),
        status: z.enum(['connected', 'disconnected', 'error']),
        current_host_path: z.string().nullable(),
        major: z.number().int().nullable(),
        minor: z.number().int().nullable(),
        error: z.string().nullable().optional(),
      }),
    )
    .optional(),
  /** The dedicated NIC (CONTRACT §9.3): inside the runtime's namespace now or not. */
  dedicatedInterface: z.looseObject({ name: z.string(), present: z.boolean(), error: z.string().optional() }).nullable().optional(),
  /** MACVLAN endpoints as last observed: network name → address and MAC. */
  endpoints: z.record(z.string(), z.object({ ip: z.string().nullable(), mac: z.string().nullable() })),
  /** A runtime version upgrade of generation `generation` (docs/runtime-containers.md): absent when none is under way or held. */
  upgrade: runtimeUpgradeSchema.optional(),
});
export type RuntimeStatus = z.infer<typeof runtimeStatusSchema>;

export const runtimeRecordSchema = z.looseObject({
  spec: runtimeSpecSchema.loose(),
  generation: z.number().int().positive(),
  running: z.boolean(),
  /** Restart requests received; the reconciler restarts once per increment. Not part of the spec hash. */
  restartCount: z.number().int().nonnegative(),
  deletion: z.object({ requestedAt: z.string() }).nullable(),
  createdAt: z.string(),
  /**
   * Imported from the Python agent: its unlabelled container is adopted, not re-created. `pending` until
   * the reconciler has switched its restart policy to `no`; then the adopted container id and the spec
   * hash it stands for (a later spec change re-creates it as a labelled container).
   */
  adoption: z.union([z.literal('pending'), z.object({ containerId: z.string(), specHash: z.string() })]).optional(),
  status: runtimeStatusSchema,
});
export type RuntimeRecord = z.infer<typeof runtimeRecordSchema>;

export const hostInterfaceSchema = z.looseObject({
  interface: z.string(),
  index: z.number().int().optional(),
  operstate: z.string(),
  type: z.enum(['ethernet', 'wifi']),
  mac_address: z.string().nullable(),
  ipv4_addresses: z.array(z.object({ address: z.string(), prefixlen: z.number().int(), subnet: z.string(), network_address: z.string() })),
  gateway: z.string().nullable(),
  status: z.enum(['down', 'removed']).optional(),
  default_route: z.boolean().optional(),
  dedicated_to: z.string().optional(),
});
export type HostInterface = z.infer<typeof hostInterfaceSchema>;

export const stateSchema = z.looseObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  agent: z.looseObject({
    /**
     * delete_orchestrator's progress. `byContainer`: the agent container that was asked (null outside a
     * container); a freshly installed agent never resumes an uninstall that another container started.
     */
    uninstall: z
      .looseObject({ requestedAt: z.string(), step: z.enum(UNINSTALL_STAGES), error: z.string().nullable(), byContainer: z.string().nullable().optional() })
      .nullable(),
    update: agentUpdateSchema.nullable().optional(),
    /** Agent image ids whose update failed: never tried again (a newly published tag has a new id). */
    failedUpdates: z.array(z.looseObject({ imageId: z.string(), reason: z.string(), at: z.string() })).optional(),
    /** Netmon image ids whose swap was rolled back: never tried again (optional: no schema bump, CONTRACT §8). */
    failedNetmonUpdates: z.array(z.looseObject({ imageId: z.string(), reason: z.string(), at: z.string() })).optional(),
  }),
  runtimes: z.record(z.string(), runtimeRecordSchema),
  host: z.looseObject({
    interfaces: z.array(hostInterfaceSchema),
    observedAt: z.string().nullable(),
    stale: z.boolean(),
    /** Serial devices netmon reported (CONTRACT §9.4), by path. */
    serialDevices: z.array(serialDeviceSchema).default([]), // facts netmon re-reports: no unknown keys kept
    /** What netmon changed on the host for proxy-ARP paths (sysctls with earlier values, veths, routes, neighbour proxies, rules). */
    hostChanges: z.array(z.looseObject({ kind: z.string() })).default([]),
  }),
});
export type State = z.infer<typeof stateSchema>;

export const emptyState = (): State => ({
  schemaVersion: SCHEMA_VERSION,
  agent: { uninstall: null },
  runtimes: {},
  host: { interfaces: [], observedAt: null, stale: true, serialDevices: [], hostChanges: [] },
});

export const initialStatus = (): RuntimeStatus => ({
  observedGeneration: 0,
  phase: 'Pending',
  conditions: [],
  lastError: null,
  restartCount: 0,
  crashCount: 0,
  crashRestarts: 0,
  backoffUntil: null,
  lastStartedAt: null,
  dhcp: {},
  endpoints: {},
});
