// The agent's side of the self-update (docs/updates.md), one reconciler step (`agentUpdate`, key
// agent/update, on the pull lane) run by the executor. In the old agent, phase 1: pull, checks, update.json,
// the updater. Afterwards, in whichever agent runs: it follows update.json (the new agent writes the
// readiness marker of the gate; the one left at the end records the outcome in state.json, removes the
// exited updater). Expected failures end the order with `error`; the step itself never throws.
import type Docker from 'dockerode';
import { messageOf, statusOf } from '../docker/client.js';
import { pullToEnd } from '../docker/pull.js';
import { LABEL, NETMON_CONTAINER } from '../domain/names.js';
import { tagOf } from '../reconcilers/container-identity.js';
import type { Logger } from '../log.js';
import type { AgentUpdate } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { netmonSwapDecision } from './netmon-plan.js';
import { runNetmonSwap, type NetmonSwapDeps } from './netmon-swap.js';
import { selfImage } from './self-image.js';
import { removeSnapshot, snapshotState } from './state-snapshot.js';
import { INTERRUPTED_TRIAL } from './updater-plan.js';
import { archiveUpdateFiles, readReadyMarker, readUpdateFile, UPDATER_CONTAINER, writeReadyMarker, writeUpdateFile, type UpdateRecord } from './update-file.js';

export interface AgentUpdateDeps {
  docker: Docker;
  /** Without a call timeout (pull progress may pause). */
  pullDocker: Docker;
  store: Store;
  log: Logger;
  dataDir: string;
  selfContainerId: string | null;
  version: string;
  /** ORCH_UPDATE_GATE_S. */
  gateSeconds: number;
  /** The disk guard's admission; `minBytes`: the least the image is taken to need. */
  admitPull: (image: string, minBytes?: number) => Promise<void>;
  /** The netmon swap's own deps (the new agent runs it after its commit). */
  netmonSwap: NetmonSwapDeps;
  /** Null when the new agent is ready for the gate (state loaded, cloud and netmon connected), else what is missing. */
  notReady: () => string | null;
}

/** How long one step waits for the updater to move on before it lets the controller plan again. */
const FOLLOW_MS = 30_000;
const POLL_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class UpdateRefused extends Error {}

export async function runAgentUpdate(d: AgentUpdateDeps): Promise<void> {
  const u = d.store.state.agent.update;
  if (!u || u.step === 'done' || u.error !== null) return;
  try {
    if (u.netmonStep === 'swapping') return await swapNetmon(d, u);
    const rec = readUpdateFile(d.dataDir);
    if (rec && rec.requestedAt === u.requestedAt) return await follow(d, rec);
    // A kept volume may hold an order another agent container took (and that ended with it): a freshly
    // installed agent never carries it out.
    if (u.byContainer !== d.selfContainerId) throw new UpdateRefused('the update was asked of another agent container');
    if (u.step === 'starting' || u.step === 'pulling_images' || u.step === 'spawning_upgrader') return await prepare(d, u);
    throw new UpdateRefused('the update record (update.json) is gone');
  } catch (e) {
    const msg = e instanceof UpdateRefused ? e.message : messageOf(e);
    d.log.error({ err: msg, image: u.image }, 'agent update failed');
    await setUpdate(d, { error: msg });
  }
}

function setUpdate(d: AgentUpdateDeps, patch: Partial<AgentUpdate>): Promise<void> {
  return d.store.update('desired', (s) => {
    if (s.agent.update) s.agent.update = { ...s.agent.update, ...patch, updatedAt: new Date().toISOString() };
  });
}

/** Phase 1, in the old agent: nothing stops. */
async function prepare(d: AgentUpdateDeps, u: AgentUpdate): Promise<void> {
  const { docker } = d;
  await setUpdate(d, { step: 'pulling_images' });
  const self = await selfImage(docker, d.selfContainerId);
  if (self === null) throw new UpdateRefused('Could not detect orchestrator container for upgrade');
  // Both images (the agent's, netmon's if the order names one) are pulled and checked before anything stops.
  // The new agent's image is taken to need at least the running one's size (the same build).
  const img = await ensureImage(d, u.image, u.digest, self.sizeBytes);
  if (u.netmonImage) await admitNetmon(d, u.netmonImage, u.netmonDigest ?? null);
  if (img.Id === self.imageId) {
    d.log.info({ image: u.image }, 'agent update: already at this image');
    // A netmon-only order (the agent's image is its own): this agent swaps netmon itself.
    if (u.netmonImage) return await startNetmonSwap(d, d.version);
    await setUpdate(d, { step: 'done', previousVersion: d.version });
    return;
  }
  const failed = d.store.state.agent.failedUpdates?.find((f) => f.imageId === img.Id);
  if (failed) throw new UpdateRefused(`image ${u.image} (${img.Id.slice(7, 19)}) failed before: ${failed.reason}`);
  await setUpdate(d, { step: 'spawning_upgrader' });
  const old = await docker.getContainer(d.selfContainerId!).inspect();
  const rec: UpdateRecord = {
    requestedAt: u.requestedAt,
    phase: 'prepared',
    name: self.containerName,
    oldName: `${self.containerName}_old`,
    oldId: old.Id,
    oldPolicy: old.HostConfig.RestartPolicy?.Name || 'no',
    oldImageId: self.imageId,
    oldVersion: d.version,
    newImage: u.image,
    newImageId: img.Id,
    gateSeconds: d.gateSeconds,
    at: '',
  };
  // Before update.json: a rollback finds the old agent's state.json to put back (a failed write ends the order here).
  snapshotState(d.dataDir, d.store.state);
  writeUpdateFile(d.dataDir, rec);
  // A leftover updater (an update that ended without its removal) goes first.
  await removeUpdater(d);
  // From the OLD image: it runs now, so it works; a new image that cannot start never touches anything.
  const updater = await docker.createContainer({
    name: UPDATER_CONTAINER,
    Image: self.imageId,
    Cmd: ['update-agent'],
    Env: old.Config.Env ?? [],
    Labels: { [LABEL.managed]: 'true', [LABEL.role]: 'updater' },
    HostConfig: {
      Binds: old.HostConfig.Binds ?? undefined,
      Mounts: old.HostConfig.Mounts ?? undefined,
      NetworkMode: old.HostConfig.NetworkMode,
      LogConfig: old.HostConfig.LogConfig,
      RestartPolicy: { Name: 'unless-stopped' },
    },
  });
  await updater.start();
  d.log.warn({ image: u.image, imageId: img.Id, updater: updater.id }, 'agent update: updater started; this agent is stopped next');
  await setUpdate(d, { step: 'upgrader_spawned' });
}

/**
 * The image `ref`, local or pulled, with `digest` checked. Refused before the pull when it would not fit
 * (estimated at the size of the largest local image of its repository).
 */
async function ensureImage(d: AgentUpdateDeps, ref: string, digest: string | null, minBytes?: number): Promise<Docker.ImageInspectInfo> {
  const { docker } = d;
  // Refused before the pull when the image would not fit (whatever its repository has locally counts).
  await d.admitPull(ref, minBytes).catch((e: unknown) => {
    throw new UpdateRefused(`image ${ref}: ${messageOf(e)}`);
  });
  // A release tag (v1.3.0) or a digest names one image: a local one is used as it is. `latest` moves: pulled.
  let img = await docker.getImage(ref).inspect().catch(() => null);
  if (img === null || tagOf(ref) === 'latest') {
    const pulled = await pull(d, ref);
    img = await docker.getImage(ref).inspect().catch(() => null);
    if (img === null) throw new UpdateRefused(`image ${ref} is not present and could not be pulled: ${pulled}`);
    if (pulled !== null) d.log.warn({ image: ref, err: pulled }, 'agent update: pull failed; the local image is used');
  }
  if (digest !== null && !(img.RepoDigests ?? []).some((r) => r.endsWith(`@${digest}`))) {
    throw new UpdateRefused(`image ${ref} does not have digest ${digest} (it has ${(img.RepoDigests ?? []).join(', ') || 'none'})`);
  }
  return img;
}

/** Phase 1 for netmon's image: pulled and checked, and refused now (nothing stopped) when it failed before. */
async function admitNetmon(d: AgentUpdateDeps, ref: string, digest: string | null): Promise<void> {
  const img = await ensureImage(d, ref, digest);
  const running = await d.docker.getContainer(NETMON_CONTAINER).inspect().catch(() => null);
  if (running === null) throw new UpdateRefused(`there is no ${NETMON_CONTAINER} container to swap`);
  const decision = netmonSwapDecision(running.Image, img.Id, d.store.state.agent.failedNetmonUpdates ?? []);
  if (!decision.swap && decision.error) throw new UpdateRefused(decision.why);
}

/** After the agent's part (its commit, or none needed): the netmon swap, reported as step `upgrading_netmon`. */
async function startNetmonSwap(d: AgentUpdateDeps, previousVersion: string): Promise<void> {
  await setUpdate(d, { netmonStep: 'swapping', previousVersion });
  await swapNetmon(d, d.store.state.agent.update!);
}

async function swapNetmon(d: AgentUpdateDeps, u: AgentUpdate): Promise<void> {
  const r = await runNetmonSwap(d.netmonSwap, { requestedAt: u.requestedAt, image: u.netmonImage! });
  if (r.end === 'pending') return; // a Docker call failed: the controller plans the step again
  if (r.end === 'error') throw new UpdateRefused(r.error);
  await setUpdate(d, { step: 'done', netmonStep: 'done' });
  d.log.info({ image: u.netmonImage }, 'agent update: done (netmon swapped)');
}

/** The pull's error message, or null when it succeeded. */
async function pull(d: AgentUpdateDeps, image: string): Promise<string | null> {
  try {
    await pullToEnd(d.docker, d.pullDocker, image);
    return null;
  } catch (e) {
    return messageOf(e);
  }
}

/** After phase 1: follows the updater through update.json for up to FOLLOW_MS. */
async function follow(d: AgentUpdateDeps, first: UpdateRecord): Promise<void> {
  const end = Date.now() + FOLLOW_MS;
  let rec: UpdateRecord | null = first;
  for (; rec !== null && Date.now() < end; rec = readUpdateFile(d.dataDir)) {
    const self = d.selfContainerId;
    if (self !== null && self === rec.candidateId) {
      if (rec.phase === 'trial') {
        if (d.store.state.agent.update?.step !== 'trial') await setUpdate(d, { step: 'trial' });
        if (d.notReady() === null && readReadyMarker(d.dataDir)?.containerId !== self) {
          writeReadyMarker(d.dataDir, { containerId: self, version: d.version, at: new Date().toISOString() });
          d.log.info({ version: d.version }, 'agent update: this agent is ready (update-ready.json)');
        }
      } else if (rec.phase === 'committed' && !(await updaterRunning(d))) {
        // The outcome is in state.json before update.json goes: a kill in between keeps it (the files left
        // are archived by the next order).
        // The new agent swaps netmon now, never the updater: netmon must not change under the agent's gate.
        const netmon = Boolean(d.store.state.agent.update?.netmonImage);
        await setUpdate(d, netmon ? { netmonStep: 'swapping', previousVersion: rec.oldVersion } : { step: 'done', previousVersion: rec.oldVersion });
        await endUpdater(d);
        if (netmon) return await swapNetmon(d, d.store.state.agent.update!);
        d.log.info({ from: rec.oldVersion, to: d.version }, 'agent update: done');
        return;
      }
    } else if (self !== null && self === rec.oldId) {
      if (rec.phase === 'rolled_back' && !(await updaterRunning(d))) {
        const reason = rec.reason ?? 'rolled back';
        await d.store.update('desired', (s) => {
          // An interrupted trial says nothing about the image: it may be asked for again.
          if (reason !== INTERRUPTED_TRIAL) {
            const failed = (s.agent.failedUpdates ?? []).filter((f) => f.imageId !== rec!.newImageId);
            s.agent.failedUpdates = [...failed, { imageId: rec!.newImageId, reason, at: new Date().toISOString() }].slice(-20);
          }
          if (s.agent.update) s.agent.update = { ...s.agent.update, error: `rolled back: ${reason}`, updatedAt: new Date().toISOString() };
        });
        await endUpdater(d);
        d.log.error({ image: rec.newImage, reason }, 'agent update rolled back; this agent runs again');
        return;
      }
      if (rec.phase === 'prepared' && (await updaterGone(d))) {
        archiveUpdateFiles(d.dataDir);
        throw new UpdateRefused('the updater container is gone before it began');
      }
    } else {
      archiveUpdateFiles(d.dataDir);
      throw new UpdateRefused('the update was started by another agent container');
    }
    await sleep(POLL_MS);
  }
}

async function inspectUpdater(d: AgentUpdateDeps): Promise<Docker.ContainerInspectInfo | null> {
  try {
    return await d.docker.getContainer(UPDATER_CONTAINER).inspect();
  } catch (e) {
    if (statusOf(e) === 404) return null;
    throw e;
  }
}

const updaterRunning = async (d: AgentUpdateDeps) => {
  const c = await inspectUpdater(d);
  return c !== null && (c.State.Running || c.State.Restarting);
};
const updaterGone = async (d: AgentUpdateDeps) => (await inspectUpdater(d)) === null;

/** Removes the updater container; one already gone is fine. */
async function removeUpdater(d: AgentUpdateDeps): Promise<void> {
  await d.docker.getContainer(UPDATER_CONTAINER).remove({ force: true }).catch((e: unknown) => {
    if (statusOf(e) !== 404) throw e;
  });
}

/** The updater has exited (its last act): its container and the update's files go. */
async function endUpdater(d: AgentUpdateDeps): Promise<void> {
  await removeUpdater(d);
  archiveUpdateFiles(d.dataDir);
  removeSnapshot(d.dataDir);
}
