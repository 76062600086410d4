// Which containers the agent owns as runtimes (issue #22): a runtime's name addresses only a container
// labelled `edge.autonomy.role=runtime` for that name, or the unlabelled one a legacy file named (adopted).
// Never the agent's or netmon's container, never another program's container that happens to share the name.
import type Docker from 'dockerode';
import { notOwnedRuntime } from '../domain/ownership.js';
import { statusOf } from './client.js';

/**
 * The container named exactly `name` (Docker's lookup also matches an id or id prefix: those are not
 * the name), or null when none has it.
 */
export async function containerNamed(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | null> {
  try {
    const c = await docker.getContainer(name).inspect();
    return c.Name === `/${name}` ? c : null;
  } catch (e) {
    if (statusOf(e) === 404) return null;
    throw e;
  }
}

/** A request may name a runtime only when no container holds the name or the agent owns that one (`known`: the state has the runtime). */
export async function nameRefusal(docker: Docker, name: string, known: boolean): Promise<string | null> {
  const c = await containerNamed(docker, name);
  if (c === null) return null;
  const why = notOwnedRuntime(name, name, c.Config.Labels ?? {}, known);
  return why === null ? null : `container_name: ${why}; choose another name`;
}
