// A cloud topic: a name, a handler that returns the ack body, and optionally v1's response event.
import type { DiskGuard } from '../../disk/disk-guard.js';
import type Docker from 'dockerode';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { ReconcilerView } from '../../reconcilers/view.js';
import type { Store } from '../../store/store.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { AgentInfo } from '../control/server.js';
import type { NetmonSource } from '../netmon/netmon-source.js';
import type { Ack } from './envelope.js';

export interface TopicContext {
  store: Store;
  controller: ReconcilerView;
  docker: Docker;
  config: Config;
  log: Logger;
  agent: AgentInfo;
  telemetry: Telemetry;
  netmon: NetmonSource;
  /** The disk guard (DiskPressure); null or absent in refusing mode and in tests that need none. */
  disk?: DiskGuard | null;
  /**
   * Emits an event on the cloud link's current socket (set by the router; absent without a cloud);
   * false when not connected or too large. For requests whose answer continues after the ack
   * (the agent's WebRTC candidates).
   */
  emit?: (event: string, payload: Record<string, unknown>) => boolean;
}

export interface Topic {
  name: string;
  /** `args` are the event's arguments without the ack callback (v1's run_command sends two). */
  handle(args: unknown[], ctx: TopicContext): Promise<Ack>;
  /** v1 answered this topic with an event of its own (CONTRACT §4): name and payload, from the ack. */
  legacyEmit?: (ack: Ack) => [string, Record<string, unknown>] | null;
}
