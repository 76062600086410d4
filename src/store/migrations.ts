// Schema evolution of state.json (CONTRACT §8): one migration per version bump, applied in order on read.
// The version is bumped only for a change an older agent would misread; additive fields need no bump
// (unknown keys survive a rewrite). A file from a newer agent is never migrated down, nor rewritten.
import { SCHEMA_VERSION } from './schema.js';

/** `MIGRATIONS[n]` turns a version-n document into a version-(n+1) one. None yet: version 1 is the first. */
export type Migration = (doc: Record<string, unknown>) => Record<string, unknown>;
export const MIGRATIONS: Readonly<Record<number, Migration>> = {};

export class NewerSchemaError extends Error {
  constructor(
    readonly fileVersion: number,
    readonly ownVersion: number,
  ) {
    super(`state.json has schema ${fileVersion}; this agent understands up to ${ownVersion}`);
  }
}

/**
 * Brings a parsed document up to `target`. Throws NewerSchemaError for a newer file; returns anything it
 * cannot read as a version (not an object, no integer schemaVersion) unchanged for validation to refuse.
 */
export function migrate(json: unknown, migrations: Readonly<Record<number, Migration>> = MIGRATIONS, target = SCHEMA_VERSION): unknown {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
  let doc = json as Record<string, unknown>;
  const v = doc.schemaVersion;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return json;
  if (v > target) throw new NewerSchemaError(v, target);
  for (let n = v; n < target; n++) {
    const step = migrations[n];
    if (!step) return json; // a gap: validation refuses the file
    doc = { ...step(doc), schemaVersion: n + 1 };
  }
  return doc;
}
