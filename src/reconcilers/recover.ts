// The store is never the only copy of a desired spec (CONTRACT §8). At start, every runtime container the
// agent made but the state does not name (state.json and .bak lost, or a .bak one write behind) is taken
// back into the desired state, from its `edge.autonomy.spec` label, else from what it is (adoption), with
// `running` as the container is now. Nothing found is removed, started or stopped for this.
import type Docker from 'dockerode';
import type { Logger } from '../log.js';
import { LABEL } from '../domain/names.js';
import { runtimeSpecSchema, type RuntimeSpec } from '../domain/runtime-spec.js';
import { specHash } from '../domain/spec-hash.js';
import { initialStatus, type RuntimeRecord } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { macvlanEndpoints, specFromEndpoints } from './container-identity.js';

export function specFromLabel(text: string | undefined, name: string): RuntimeSpec | null {
  if (text === undefined) return null;
  try {
    const r = runtimeSpecSchema.loose().safeParse(JSON.parse(text));
    return r.success && r.data.name === name ? r.data : null;
  } catch {
    return null;
  }
}

/** Returns the names taken back into the desired state. Throws when Docker cannot be read (retried by the caller). */
export async function recoverFromContainers(docker: Docker, store: Store, log: Logger): Promise<string[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`, `${LABEL.role}=runtime`] } });
  const records = new Map<string, RuntimeRecord>();
  for (const c of found) {
    const name = c.Labels?.[LABEL.device];
    if (name === undefined || name in store.state.runtimes || records.has(name)) continue;
    const running = c.State === 'running';
    const info = await docker.getContainer(c.Id).inspect();
    let spec = specFromLabel(c.Labels[LABEL.spec], name);
    let adoption: RuntimeRecord['adoption'];
    if (spec === null) {
      // Made before the spec label existed: what it is becomes its spec, and it is adopted, not re-created.
      spec = specFromEndpoints(name, info.Config.Image, info.HostConfig.Dns ?? [], await macvlanEndpoints(docker, info));
      if (spec === null) {
        log.warn({ device: name, container: c.Id }, 'runtime container without spec label or MACVLAN endpoint: left alone, not taken into the state');
        continue;
      }
      adoption = { containerId: c.Id, specHash: specHash(spec) };
    }
    records.set(name, {
      spec,
      generation: 1,
      running,
      restartCount: 0,
      deletion: null,
      createdAt: info.Created,
      ...(adoption ? { adoption } : {}),
      status: { ...initialStatus(), lastStartedAt: running ? info.State.StartedAt : null },
    });
  }
  if (records.size > 0) {
    await store.update('desired', (s) => {
      for (const [name, rec] of records) s.runtimes[name] ??= rec;
    });
    for (const [name, rec] of records) {
      log.warn({ device: name, running: rec.running, from: rec.adoption ? 'the container itself' : 'its spec label' }, 'runtime container missing from the state file: taken back into the desired state');
    }
  }
  if (store.degraded) {
    store.markRebuilt();
    log.warn({ runtimes: [...records.keys()] }, 'desired state rebuilt from the containers (state.json and its backup were unusable)');
  }
  return [...records.keys()];
}
