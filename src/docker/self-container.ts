// The agent's own container, when it runs in one. Not by hostname (`--hostname` breaks that): by the
// container id the kernel shows in /proc/self (cgroup v1 path, or the engine's per-container mounts that
// cgroup v2 leaves visible in mountinfo), then by the role label.
import fs from 'node:fs';
import type Docker from 'dockerode';
import { LABEL } from '../domain/names.js';

const ID_RE = /(?:\/docker\/|\/docker-|\/containers\/)([0-9a-f]{64})/;

/** The 64-hex container id found in this process's cgroup or mount table, if any. */
export function containerIdFromProc(read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): string | null {
  for (const file of ['/proc/self/cgroup', '/proc/self/mountinfo']) {
    try {
      const m = ID_RE.exec(read(file));
      if (m) return m[1]!;
    } catch {
      /* not Linux, or not readable: try the next source */
    }
  }
  return null;
}

export async function findSelfContainer(docker: Docker): Promise<string | null> {
  if (!fs.existsSync('/.dockerenv')) return null;
  const isAgent = (labels: Record<string, string> | undefined) => labels?.[LABEL.role] === 'orchestrator-agent';
  const id = containerIdFromProc();
  if (id !== null) {
    try {
      const c = await docker.getContainer(id).inspect();
      if (isAgent(c.Config.Labels)) return c.Id;
    } catch {
      /* another engine's id, or gone: fall back to the label */
    }
  }
  try {
    const byLabel = await docker.listContainers({ filters: { label: [`${LABEL.role}=orchestrator-agent`], status: ['running'] } });
    return byLabel.length === 1 ? byLabel[0]!.Id : null;
  } catch {
    return null;
  }
}
