// state.json across the self-update (docs/updates.md, "state.json across an update"): the old agent
// snapshots it in phase 1 as `state.json.pre-update`; on a rollback the updater (of the OLD image, so its
// SCHEMA_VERSION is the old agent's) puts the snapshot back only when the new agent left a schema the old
// one would refuse (CONTRACT §8: refusing mode); with the same schema the current file is kept. The agent
// that runs after the update removes the snapshot.
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_VERSION } from '../store/schema.js';
import { writeJsonDurable } from './update-file.js';

export const SNAPSHOT_FILE = 'state.json.pre-update';
/** The newer agent's state.json, kept aside by a restore (its orders of the trial, for the operator). */
export const ROLLED_BACK_FILE = 'state.json.rolled-back';
const STATE_FILE = 'state.json';

/** Phase 1, before update.json: durable, so a rollback after a power cut still finds it. */
export function snapshotState(dataDir: string, state: unknown): void {
  try {
    writeJsonDurable(path.join(dataDir, SNAPSHOT_FILE), state);
  } catch (e) {
    throw new Error(`state.json not snapshotted as ${SNAPSHOT_FILE}: ${(e as Error).message}`, { cause: e });
  }
}

export function removeSnapshot(dataDir: string): void {
  fs.rmSync(path.join(dataDir, SNAPSHOT_FILE), { force: true });
}

/**
 * On a rollback: `restore` only when the file the old agent will open has a schema newer than its own (it
 * would refuse every order, stranded until another update) and there is a snapshot to put back. Otherwise
 * `keep`: the same schema is the old agent's to read, with the desired state the cloud wrote during the
 * trial, which a restore would silently undo though the new agent acknowledged it.
 */
export function stateOnRollback(f: { storedSchemaVersion: number | null; ownSchemaVersion: number; snapshot: boolean }): 'restore' | 'keep' {
  return f.snapshot && f.storedSchemaVersion !== null && f.storedSchemaVersion > f.ownSchemaVersion ? 'restore' : 'keep';
}

function schemaVersionOf(file: string): number | null {
  try {
    const v = (JSON.parse(fs.readFileSync(file, 'utf8')) as { schemaVersion?: unknown }).schemaVersion;
    return typeof v === 'number' && Number.isInteger(v) ? v : null;
  } catch {
    return null;
  }
}

/** The schema of the file the store will open: state.json, or its `.bak` when state.json is unusable (store.ts). */
function storedSchemaVersion(dataDir: string): number | null {
  const file = path.join(dataDir, STATE_FILE);
  return schemaVersionOf(file) ?? schemaVersionOf(`${file}.bak`);
}

export function restoreNeeded(dataDir: string, ownSchemaVersion = SCHEMA_VERSION): boolean {
  return stateOnRollback({ storedSchemaVersion: storedSchemaVersion(dataDir), ownSchemaVersion, snapshot: fs.existsSync(path.join(dataDir, SNAPSHOT_FILE)) }) === 'restore';
}

/**
 * Puts the snapshot back as state.json and as its `.bak` (a newer `.bak` would strand the old agent the day
 * state.json is unusable). Re-doable: the updater plans it again until restoreNeeded() is false.
 */
export function restoreSnapshot(dataDir: string): void {
  const file = path.join(dataDir, STATE_FILE);
  const snapshot: unknown = JSON.parse(fs.readFileSync(path.join(dataDir, SNAPSHOT_FILE), 'utf8'));
  if (fs.existsSync(file)) fs.copyFileSync(file, path.join(dataDir, ROLLED_BACK_FILE));
  writeJsonDurable(`${file}.bak`, snapshot);
  writeJsonDurable(file, snapshot);
}
