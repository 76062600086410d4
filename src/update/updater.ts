// `orchestrator-agent update-agent`: the short-lived updater of the self-update (docs/updates.md, phase 2),
// in the container `orchestrator_updater` made from the OLD agent's image. It carries out one action of
// nextUpdaterAction() at a time, re-planned from update.json and fresh inspects after each one, so that an
// updater killed at any point (and started again by its restart policy) continues or rolls back. The
// runtimes, networks and volumes are never touched; only the two agent containers and its own.
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Config } from '../config.js';
import { dockerFromHost, messageOf, statusOf } from '../docker/client.js';
import type { Logger } from '../log.js';
import { newAgentContainerRequest } from './agent-container-request.js';
import { READY_FILE, readReadyMarker, readUpdateFile, UPDATER_CONTAINER, writeUpdateFile, type UpdateRecord } from './update-file.js';
import { restoreNeeded, restoreSnapshot } from './state-snapshot.js';
import { pauseIfAsked } from './updater-pause.js';
import { nextUpdaterAction, type SeenContainer, type UpdaterAction } from './updater-plan.js';

const STOP_TIMEOUT_S = 15;
const POLL_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function seen(docker: Docker, name: string): Promise<(SeenContainer & { info: Docker.ContainerInspectInfo }) | null> {
  try {
    const info = await docker.getContainer(name).inspect();
    // A prefix match of another container's id is not this name.
    if (info.Name !== `/${name}`) return null;
    return { id: info.Id, running: info.State.Running || info.State.Restarting, restartPolicy: info.HostConfig.RestartPolicy?.Name || 'no', info };
  } catch (e) {
    if (statusOf(e) === 404) return null;
    throw e;
  }
}

export async function ignore(p: Promise<unknown>, ...codes: number[]): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!codes.includes(statusOf(e) ?? 0)) throw e;
  }
}

export async function runUpdater(config: Config, log: Logger): Promise<number> {
  const docker = dockerFromHost(config.dockerHost, 60_000);
  const { dataDir } = config;
  let createdHere: string | null = null;
  for (;;) {
    const rec = readUpdateFile(dataDir);
    if (rec === null) {
      log.error({ file: path.join(dataDir, 'update.json') }, 'updater: no update record; nothing to do');
      await finish(docker);
      return 0;
    }
    const [current, old] = await Promise.all([seen(docker, rec.name), seen(docker, rec.oldName)]);
    const restoreState = rec.phase === 'rolling_back' && restoreNeeded(dataDir);
    const action = nextUpdaterAction({ phase: rec.phase, oldId: rec.oldId, oldPolicy: rec.oldPolicy, current, old, createdHere, restoreState });
    log.info({ phase: rec.phase, action: action.do }, 'updater');
    await pauseIfAsked(`${rec.phase}/${action.do}`, log);
    try {
      const made = await carryOut(docker, dataDir, rec, action, current, old, log);
      if (made !== undefined) createdHere = made;
    } catch (e) {
      // Re-planned from fresh observations (a half-done action is seen as it is); a Docker that keeps
      // refusing holds the updater here, with the old agent's container kept.
      log.error({ action: action.do, err: messageOf(e) }, 'updater: action failed; retrying');
      await sleep(2000);
      continue;
    }
    if (action.do === 'finish') return 0;
  }
}

/** One action; returns the id of a candidate it created. */
async function carryOut(
  docker: Docker,
  dataDir: string,
  rec: UpdateRecord,
  a: UpdaterAction,
  current: Awaited<ReturnType<typeof seen>>,
  old: Awaited<ReturnType<typeof seen>>,
  log: Logger,
): Promise<string | undefined> {
  switch (a.do) {
    case 'renameCurrentToOld':
      await docker.getContainer(current!.id).rename({ name: rec.oldName });
      return;
    case 'stopOld':
      await docker.getContainer(old!.id).update({ RestartPolicy: { Name: 'no' } });
      await ignore(docker.getContainer(old!.id).stop({ t: STOP_TIMEOUT_S }), 304);
      return;
    case 'removeCurrent':
      await ignore(docker.getContainer(a.id).remove({ force: true }), 404);
      return;
    case 'createCandidate': {
      const image = await docker.getImage(old!.info.Image).inspect();
      const req = newAgentContainerRequest(old!.info, image.Config, rec.newImage, rec.name, { Name: 'no' });
      const c = await docker.createContainer(req);
      writeUpdateFile(dataDir, { ...rec, candidateId: c.id });
      log.info({ candidate: c.id, image: rec.newImage }, 'updater: new agent created');
      return c.id;
    }
    case 'startTrial':
      fs.rmSync(path.join(dataDir, READY_FILE), { force: true });
      writeUpdateFile(dataDir, { ...rec, phase: 'trial', candidateId: current!.id });
      await docker.getContainer(current!.id).start();
      return;
    case 'gate': {
      const reason = await gate(docker, dataDir, rec, current!.id);
      if (reason === null) {
        log.info({ candidate: current!.id }, 'updater: the new agent is ready; committing');
        writeUpdateFile(dataDir, { ...rec, phase: 'committing' });
      } else {
        log.error({ candidate: current!.id, reason }, 'updater: the new agent failed the gate; rolling back');
        writeUpdateFile(dataDir, { ...rec, phase: 'rolling_back', reason });
      }
      return;
    }
    case 'setPhase':
      writeUpdateFile(dataDir, { ...rec, phase: a.phase, ...(a.reason !== undefined ? { reason: a.reason } : {}) });
      return;
    case 'setCurrentPolicy':
      await docker.getContainer(current!.id).update({ RestartPolicy: { Name: a.policy } });
      return;
    case 'restoreState':
      restoreSnapshot(dataDir);
      log.warn({ dataDir }, 'updater: the new agent left a state.json schema the old agent refuses; the snapshot of the update\'s start is back (the newer file: state.json.rolled-back)');
      return;
    case 'removeOld':
      await ignore(docker.getContainer(old!.id).remove({ force: true }), 404);
      return;
    case 'renameOldToCurrent':
      await docker.getContainer(old!.id).rename({ name: rec.name });
      return;
    case 'startCurrent':
      await ignore(docker.getContainer(current!.id).start(), 304);
      return;
    case 'finish':
      await finish(docker);
      return;
  }
}

/** Null when the candidate wrote its readiness marker in time; else why not. */
async function gate(docker: Docker, dataDir: string, rec: UpdateRecord, id: string): Promise<string | null> {
  const deadline = Date.now() + rec.gateSeconds * 1000;
  for (;;) {
    if (readReadyMarker(dataDir)?.containerId === id) return null;
    const c = await docker.getContainer(id).inspect().catch((e: unknown) => (statusOf(e) === 404 ? null : Promise.reject(e as Error)));
    if (c === null) return 'the new agent container is gone';
    if (!c.State.Running) return `the new agent exited with code ${c.State.ExitCode}`;
    if ((c.RestartCount ?? 0) > 0) return 'the new agent restarted';
    if (Date.now() > deadline) return `the new agent was not ready within ${rec.gateSeconds} s (state loaded, cloud and netmon connected)`;
    await sleep(POLL_MS);
  }
}

/** The updater's last act: nothing starts it again (the next agent removes the exited container). */
async function finish(docker: Docker): Promise<void> {
  await ignore(docker.getContainer(UPDATER_CONTAINER).update({ RestartPolicy: { Name: 'no' } }), 404);
}
