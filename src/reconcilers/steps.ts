// The steps a reconcile pass can take. Each names the work key it serializes on and why it is needed.
import type { UninstallStage } from '../store/schema.js';
import type { Attachment } from '../domain/attachments.js';
import type { RuntimeSpec } from '../domain/runtime-spec.js';


export interface MacvlanNetworkSpec {
  name: string;
  parent: string;
  subnet: string;
  gateway: string | null;
  parentIndex: number | null; // the parent's ifindex when created: a new one means the parent was replaced
}

interface Base {
  key: string; // runtime/<name>, network/<name>, image/<ref>, nic/<name>, serial/<name>, ready/<name>: steps with one key never run concurrently
  device: string | null;
  reason: string;
}

export type Step = Base &
  (
    | { action: 'createVolume'; volume: string }
    | { action: 'removeVolume'; volume: string }
    | { action: 'createInternalNetwork'; network: string }
    | { action: 'createMacvlanNetwork'; network: MacvlanNetworkSpec }
    | { action: 'removeNetwork'; network: string }
    | { action: 'createContainer' }
    | { action: 'removeContainer'; containerId: string; recreateImage?: string } // recreateImage: the image its replacement needs (checked before the remove)
    | { action: 'adopt'; containerId: string }
    | { action: 'connect'; network: string; attachment: Attachment | null }
    | { action: 'disconnect'; network: string; containerId: string }
    | { action: 'fixMac'; containerId: string; network: string; parent: string; mac: string }
    | { action: 'updateLimits'; containerId: string }
    | { action: 'dhcpStart'; containerId: string; vnic: string; mac: string }
    | { action: 'nicMove'; containerId: string; nic: string }
    | { action: 'wifiPath'; containerId: string; vnic: string; parent: string; parentIndex: number | null; ip: string; prefix: number; gateway: string | null }
    | { action: 'wifiDhcpStart'; containerId: string; vnic: string; parent: string }
    // `grant`: the container's create-time rules lack this device; netmon adds it (cgroup v1, no restart).
    | { action: 'serialNode'; containerId: string; port: string; path: string; major: number; minor: number; hostPath: string; grant: boolean }
    | { action: 'serialNodeRemove'; containerId: string; port: string; path: string }
    | { action: 'start'; containerId: string; crashed: boolean }
    | { action: 'stop'; containerId: string }
    | { action: 'restart'; containerId: string }
    | { action: 'connectSelf'; network: string }
    | { action: 'forget' }
    | { action: 'uninstall'; stage: UninstallStage }
    | { action: 'pullImage'; image: string }
    // The agent's self-update (src/update/agent-update-step.ts), key agent/update, on the pull lane.
    | { action: 'agentUpdate' }
    // Runtime version upgrades (upgrade.ts): status writes and a readiness probe; no Docker mutation.
    | { action: 'upgradeBegin'; from: { spec: RuntimeSpec; image: string }; toImage: string; containerId: string | null }
    | { action: 'probeReady'; containerId: string }
    | { action: 'upgradeEnd'; outcome: 'ready' | 'notReady'; detail: string }
    | { action: 'wait'; until: string | null; condition: 'ImageReady' | 'NetworkReady' | 'Running' | 'ContainerReady'; image?: string }
  );

/** Steps the executor carries out; `wait` only explains why nothing happens yet. */
export const isActionable = (s: Step) => s.action !== 'wait';

/** A step without its key and device (filled in by whoever plans for that resource). */
export type StepBody = Step extends infer S ? (S extends Step ? Omit<S, 'key' | 'device'> : never) : never;
