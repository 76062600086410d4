// The floor the agent is measured against: one runtime's objects made by a plain dockerode script
// (volume, internal network, container with its endpoints, start), the MACVLAN network already there.
import type Docker from 'dockerode';
import { attachmentsOf } from '../src/domain/attachments.js';
import { internalNetworkName, labelsFor } from '../src/domain/names.js';
import type { RuntimeSpec } from '../src/domain/runtime-spec.js';
import { loadConfig } from '../src/config.js';
import { atLeast } from '../src/docker/client.js';
import { request144, requestBelow144 } from '../src/docker/runtime-container-request.js';
import type { Ulimits } from '../src/reconcilers/ulimits.js';

export async function plainCreate(docker: Docker, spec: RuntimeSpec, image: string, api: [number, number], ulimits: Ulimits): Promise<Docker.Container> {
  await docker.createVolume({ Name: `${spec.name}_data`, Labels: labelsFor('runtime-data', spec.name) });
  await docker.createNetwork({ Name: internalNetworkName(spec.name), Driver: 'bridge', Internal: true });
  const input = { name: spec.name, image, spec, specHash: 'x', ulimitsLabel: null, attachments: attachmentsOf(spec, []), dns: [], ulimits, deviceGrants: [], log: loadConfig({}).containerLog }; // the agent's default log, as it creates them
  const req = atLeast(api, 1, 44) ? request144(input) : requestBelow144(input);
  const c = await docker.createContainer(req.create);
  for (const x of req.connect) await docker.getNetwork(x.network).connect({ Container: c.id, EndpointConfig: x.endpoint });
  await c.start();
  return c;
}
