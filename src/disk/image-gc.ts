// Which images may go when the Docker data root is short of space (issue #23): kubelet's image GC, made
// safe for PLCs. Pure: the disk guard gathers the facts, the executor removes.
import { repoOf } from '../domain/spec-hash.js';

export interface LocalImage {
  id: string;
  /** `repo:tag` references; empty for a dangling image. */
  refs: string[];
  sizeBytes: number;
  /** When it was last pulled or tagged here (Docker's Metadata.LastTagTime), else its creation; ms. */
  lastUsedMs: number;
}

export interface GcFacts {
  images: readonly LocalImage[];
  /** Image ids of every container on the engine, in any state (a stopped runtime or agent needs its image). */
  inUse: ReadonlySet<string>;
  /** References that must stay: every declared runtime's image and every rollback target. */
  keep: ReadonlySet<string>;
  /** The repositories the agent owns images of (the runtime repository, the agent's and netmon's). */
  ownRepos: ReadonlySet<string>;
}

/**
 * The images to remove, least recently used first, until `bytesToFree` would be freed. Only images no
 * container uses and no keep reference names, and only the agent's own repositories' or dangling ones: an
 * image of something else on the box is not the agent's to judge. A PLC is never stopped for space; its
 * image is in use, so it is never a candidate.
 */
export function imagesToRemove(f: GcFacts, bytesToFree: number): LocalImage[] {
  const candidates = f.images
    .filter((i) => !f.inUse.has(i.id))
    .filter((i) => !i.refs.some((r) => f.keep.has(r)))
    .filter((i) => i.refs.every((r) => f.ownRepos.has(repoOf(r))))
    .sort((a, b) => a.lastUsedMs - b.lastUsedMs || a.id.localeCompare(b.id));
  const picked: LocalImage[] = [];
  let freed = 0;
  for (const i of candidates) {
    if (freed >= bytesToFree) break;
    picked.push(i);
    freed += i.sizeBytes;
  }
  return picked;
}
