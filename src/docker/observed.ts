// The observed model: what the engine has of the agent's objects, read with a constant number of calls
// (list containers and volumes by label, networks all: see observe), whatever the number of runtimes.
import type Docker from 'dockerode';
import { LABEL } from '../domain/names.js';

export interface ObservedEndpoint {
  ip: string | null;
  mac: string | null;
}

export interface ObservedContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string; // the reference it was created from
  state: string; // created | running | exited | paused | restarting | dead | removing
  status: string; // Docker's human text, e.g. "Exited (1) 3 seconds ago"
  networks: Record<string, ObservedEndpoint>;
}

export interface ObservedNetwork {
  id: string;
  name: string;
  labels: Record<string, string>;
  driver: string;
  parent: string | null;
  subnet: string | null;
}

export interface ObservedVolume {
  name: string;
  labels: Record<string, string>;
}

export interface Observed {
  containers: ObservedContainer[];
  networks: ObservedNetwork[];
  volumes: ObservedVolume[];
}

const managed = { label: [`${LABEL.managed}=true`] };

/**
 * `adopted`: names of runtimes imported from the Python agent, whose container carries no label. Then
 * containers are listed without the label filter (still one call) and kept when labelled or adopted.
 * Networks are always listed without it: the Python agent's `<name>_internal` and MACVLAN networks carry
 * no label either and outlive the adoption (a re-created runtime keeps them; after a state loss its
 * runtime is rebuilt from its label, no longer adopted). Kept: labelled, MACVLAN (an unlabelled one still
 * holds its parent: Docker allows one per parent), and `<name>_internal` of a runtime in `runtimes`.
 */
export async function observe(docker: Docker, adopted: ReadonlySet<string> = new Set(), runtimes: ReadonlySet<string> = adopted): Promise<Observed> {
  const all = adopted.size > 0;
  const [rawContainers, rawNetworks, volumes] = await Promise.all([
    docker.listContainers({ all: true, ...(all ? {} : { filters: managed }) }),
    docker.listNetworks(),
    docker.listVolumes({ filters: managed }),
  ]);
  const isManaged = (labels: Record<string, string> | undefined) => labels?.[LABEL.managed] === 'true';
  const containers = rawContainers.filter((c) => isManaged(c.Labels) || adopted.has((c.Names[0] ?? '').replace(/^\//, '')));
  const networks = rawNetworks.filter((n) => isManaged(n.Labels) || n.Driver === 'macvlan' || (n.Name.endsWith('_internal') && runtimes.has(n.Name.slice(0, -'_internal'.length))));
  return {
    containers: containers.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      labels: c.Labels ?? {},
      image: c.Image,
      state: c.State,
      status: c.Status,
      networks: Object.fromEntries(
        Object.entries(c.NetworkSettings?.Networks ?? {}).map(([n, e]) => [
          n,
          { ip: e.IPAddress || null, mac: e.MacAddress || null },
        ]),
      ),
    })),
    networks: networks.map((n) => ({
      id: n.Id,
      name: n.Name,
      labels: n.Labels ?? {},
      driver: n.Driver,
      parent: n.Options?.parent ?? null,
      subnet: n.IPAM?.Config?.[0]?.Subnet ?? null,
    })),
    volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
  };
}
