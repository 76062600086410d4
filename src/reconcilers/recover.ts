// The store is never the only copy of a desired spec (CONTRACT §8). At start, every runtime container the
// agent made but the state does not name (state.json and .bak lost, or a .bak one write behind) is taken
// back into the desired state, from its `edge.autonomy.spec` label, else from what it is (adoption), with
// `running` as the container is now. Nothing found is removed, started or stopped for this. On a full or
// read-only data dir the result is kept in memory (store.ts) and written once the disk takes it.
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

/**
 * Returns the names taken back into the desired state. Throws when Docker cannot be read (retried by the
 * caller). `legacyNames`: runtimes the Python agent's files name (docs/migration.md); an unlabelled
 * container of one of those names (adopted before the state was lost) is taken back as in adoption.
 */
export async function recoverFromContainers(docker: Docker, store: Store, log: Logger, legacyNames: readonly string[] = []): Promise<string[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABEL.managed}=true`, `${LABEL.role}=runtime`] } });
  const records = new Map<string, RuntimeRecord>();
  const take = async (name: string, info: Docker.ContainerInspectInfo, labelled: string | undefined): Promise<void> => {
    const running = info.State.Status === 'running';
    let spec = specFromLabel(labelled, name);
    let adoption: RuntimeRecord['adoption'];
    if (spec === null) {
      // Made before the spec label existed, or by the Python agent: what it is becomes its spec, and it is
      // adopted, not re-created.
      spec = specFromEndpoints(name, info.Config.Image, info.HostConfig.Dns ?? [], await macvlanEndpoints(docker, info));
      if (spec === null) {
        log.warn({ device: name, container: info.Id }, 'runtime container without spec label or MACVLAN endpoint: left alone, not taken into the state');
        return;
      }
      // The Python agent's container (unlabelled): adopted again, as at a first start, so that its MACs are
      // read in its namespace and a held lease is asked for again (Docker's records may say 02:42:…).
      // One made by agent 0.1 (labelled, no spec label) is taken as it is.
      adoption = info.Config.Labels?.[LABEL.managed] === 'true' ? { containerId: info.Id, specHash: specHash(spec) } : 'pending';
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
  };
  const labelledNames = new Set<string>();
  for (const c of found) {
    const name = c.Labels?.[LABEL.device];
    if (name === undefined) continue;
    labelledNames.add(name);
    if (name in store.state.runtimes || records.has(name)) continue;
    await take(name, await docker.getContainer(c.Id).inspect(), c.Labels[LABEL.spec]);
  }
  for (const name of legacyNames) {
    if (name in store.state.runtimes || records.has(name) || labelledNames.has(name)) continue;
    let info: Docker.ContainerInspectInfo;
    try {
      info = await docker.getContainer(name).inspect();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) continue; // deleted since: nothing to take back
      throw e;
    }
    if (info.Config.Labels?.[LABEL.managed] === 'true') continue; // labelled: not a runtime (else found above)
    await take(name, info, undefined);
  }
  if (records.size > 0) {
    // Kept in memory on a full or read-only data dir: the pass goes on to plan (crashes are restarted).
    await store.update(
      'desired',
      (s) => {
        for (const [name, rec] of records) s.runtimes[name] ??= rec;
      },
      { keepIfUnwritten: true },
    );
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
