// The operator CLI's socket ($ORCH_DATA_DIR/agent.sock, mode 0600): one JSON request per line, one answer.
import * as z from 'zod';
import type { RenewalStatus } from '../cloud/cert-renewal.js';

export const controlRequestSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('state') }),
  z.object({ command: z.literal('plan') }),
  z.object({ command: z.literal('health') }),
  z.object({ command: z.literal('apply'), runtime: z.unknown() }),
  z.object({ command: z.enum(['delete', 'start', 'stop', 'restart']), name: z.string() }),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;

export type ControlAnswer = { success: true; [k: string]: unknown } | { success: false; error: string };

/** The agent's links in the `state` and `health` answers, for `doctor` (times ISO 8601). */
export interface LinkStatus {
  /** null: standalone (ORCH_CLOUD_URL=off). */
  cloud: { url: string; connected: boolean; connectedSince: string | null; lastError: string | null; lastErrorAt: string | null } | null;
  /** null: renewal off (no ORCH_ENROLL_URL, or standalone). */
  renewal?: RenewalStatus | null;
  /** null: refusing mode (the netmon client is not started). */
  netmon: { socket: string; connected: boolean; connectedSince: string | null; lastReportAt: string | null; eventsSeen: number } | null;
  /** The disk guard's DiskPressure condition (absent in refusing mode). */
  disk?: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string; lastTransitionTime: string; imagesRemoved: number } | null;
}
