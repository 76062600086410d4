// The image the agent's own container runs (get_orchestrator_version, the self-update's "from"): read once
// per process, since a container's image never changes; `null` outside a container or when Docker fails
// (asked again next time).
import type Docker from 'dockerode';

export interface SelfImage {
  /** The local image id (`sha256:…`, per platform; not a registry digest). */
  imageId: string;
  /** The reference the container was created with (`ghcr.io/…/orchestrator-agent:latest`). */
  reference: string;
  /** The registry digest of that image (`repo@sha256:…`) when it was pulled from one, else null. */
  digest: string | null;
  /** The container's name without the leading slash. */
  containerName: string;
  /** The image's size (0 when it cannot be inspected): the self-update's least estimate of the new one. */
  sizeBytes: number;
}

const cache = new WeakMap<Docker, Promise<SelfImage | null>>();

export function selfImage(docker: Docker, containerId: string | null): Promise<SelfImage | null> {
  if (containerId === null) return Promise.resolve(null);
  let p = cache.get(docker);
  if (!p) {
    p = readSelfImage(docker, containerId);
    cache.set(docker, p);
    void p.then((v) => v === null && cache.delete(docker));
  }
  return p;
}

async function readSelfImage(docker: Docker, containerId: string): Promise<SelfImage | null> {
  try {
    const c = await docker.getContainer(containerId).inspect();
    const img = await docker.getImage(c.Image).inspect().catch(() => null);
    return { imageId: c.Image, reference: c.Config.Image, digest: img?.RepoDigests?.[0] ?? null, containerName: c.Name.replace(/^\//, ''), sizeBytes: img?.Size ?? 0 };
  } catch {
    return null;
  }
}
