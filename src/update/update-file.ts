// update.json and update-ready.json in the data dir (docs/updates.md): the self-update's plan and phase,
// written by the old agent (prepared) and then only by the updater; the new agent's readiness marker.
// Durable (tmp, fsync, rename, directory fsync): a power cut leaves the previous or the new content.
import fs from 'node:fs';
import path from 'node:path';
import type { UpdatePhase } from './updater-plan.js';

export interface UpdateRecord {
  /** agent.update.requestedAt of the order this plan carries out. */
  requestedAt: string;
  phase: UpdatePhase;
  /** The agent container's name (A) and the name the old one has during the update (O). */
  name: string;
  oldName: string;
  oldId: string;
  oldPolicy: string;
  oldImageId: string;
  oldVersion: string;
  newImage: string;
  newImageId: string;
  gateSeconds: number;
  /** The new agent's container, once the updater created it. */
  candidateId?: string;
  /** Why the update was rolled back. */
  reason?: string;
  at: string;
}

export interface ReadyMarker {
  containerId: string;
  version: string;
  at: string;
}

export const UPDATE_FILE = 'update.json';
export const READY_FILE = 'update-ready.json';
export const UPDATER_CONTAINER = 'orchestrator_updater';

export function writeJsonDurable(file: string, value: unknown): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null; // absent, or cut by a crash before the rename (the rename is atomic: never half written)
  }
}

export const readUpdateFile = (dataDir: string) => readJson<UpdateRecord>(path.join(dataDir, UPDATE_FILE));
export const writeUpdateFile = (dataDir: string, r: UpdateRecord) => writeJsonDurable(path.join(dataDir, UPDATE_FILE), { ...r, at: new Date().toISOString() });
export const readReadyMarker = (dataDir: string) => readJson<ReadyMarker>(path.join(dataDir, READY_FILE));
export const writeReadyMarker = (dataDir: string, m: ReadyMarker) => writeJsonDurable(path.join(dataDir, READY_FILE), m);

/** An ended update's files are kept once, as `update.last.json`, for a post-mortem. */
export function archiveUpdateFiles(dataDir: string): void {
  try {
    fs.renameSync(path.join(dataDir, UPDATE_FILE), path.join(dataDir, 'update.last.json'));
  } catch {
    /* already gone */
  }
  fs.rmSync(path.join(dataDir, READY_FILE), { force: true });
}
