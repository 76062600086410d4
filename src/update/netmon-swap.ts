// The netmon swap of a self-update (docs/updates.md, "Netmon"), run by the agent itself (the new one after
// its commit, or the running one for a netmon-only order): `autonomy_netmon` is replaced by the order's
// image with the updater's states (netmon-plan.ts), one action at a time planned from
// $ORCH_DATA_DIR/netmon-update.json and fresh inspects, so an agent restarted or a power cut at any point
// continues or rolls back. The gate: netmon reconnects and a network_discovery arrives after the
// candidate's start, carrying the new image's AGENT_VERSION (any version when the image sets none).
// Runtime containers are never touched.
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { messageOf, statusOf } from '../docker/client.js';
import { NETMON_CONTAINER } from '../domain/names.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { newAgentContainerRequest } from './agent-container-request.js';
import { DOCKER_KEPT_FAILING, NETMON_OLD_SUFFIX, netmonSwapDecision, nextNetmonAction, recordFailedNetmon, type NetmonAction } from './netmon-plan.js';
import { readJson, writeJsonDurable } from './update-file.js';
import { ignore, seen } from './updater.js';
import { pauseIfAsked } from './updater-pause.js';
import type { UpdatePhase } from './updater-plan.js';

export const NETMON_UPDATE_FILE = 'netmon-update.json';
const STOP_TIMEOUT_S = 15;
const POLL_MS = 500;
/** A failed Docker call ends the run after this pause (no busy re-plan); failures for longer than the budget
 * before the candidate is proven roll back (the old netmon comes back), or end an order not yet started. */
const RETRY_PAUSE_MS = 2_000;
const RETRY_BUDGET_MS = 60_000;
const ROLLBACK_ON_FAILURE: UpdatePhase[] = ['prepared', 'stopping_old', 'trial'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface NetmonRecord {
  /** agent.update.requestedAt of the order this swap carries out. */
  requestedAt: string;
  phase: UpdatePhase;
  oldId: string;
  oldPolicy: string;
  newImage: string;
  newImageId: string;
  /** The new image's AGENT_VERSION, which its network_discovery must carry (null: the image sets none). */
  newVersion: string | null;
  gateSeconds: number;
  candidateId?: string;
  reason?: string;
  at: string;
}

/** What the agent's netmon client knows now (NetmonSource); times are performance.now() (monotonic). */
export interface NetmonLink {
  connected: boolean;
  connectedMono: number | null;
  lastDiscoveryMono: number | null;
  version: string | null;
}

export interface NetmonSwapDeps {
  docker: Docker;
  store: Store;
  log: Logger;
  dataDir: string;
  /** ORCH_UPDATE_GATE_S. */
  gateSeconds: number;
  link: () => NetmonLink;
  /** Tests only: the pause after a failed Docker call and the budget of failures before giving up. */
  retry?: { pauseMs: number; budgetMs: number };
}

export type NetmonSwapResult = { end: 'done' } | { end: 'error'; error: string } | { end: 'pending' };

const OLD_NAME = `${NETMON_CONTAINER}${NETMON_OLD_SUFFIX}`;
const file = (dataDir: string) => path.join(dataDir, NETMON_UPDATE_FILE);
const write = (dataDir: string, r: NetmonRecord) => writeJsonDurable(file(dataDir), { ...r, at: new Date().toISOString() });

/** The candidate this agent process created (the updater's `createdHere`): null after a restart. */
let createdHere: string | null = null;
/** performance.now() at the candidate's start in this process: the gate's clock (a wall-clock step during
 * the trial neither fails nor stalls it; after a restart the trial rolls back anyway). */
let trialStartedMono: number | null = null;
/** performance.now() of the first of the current run of failed Docker calls (null: the last one worked). */
let failingSince: number | null = null;

export async function runNetmonSwap(d: NetmonSwapDeps, order: { requestedAt: string; image: string }): Promise<NetmonSwapResult> {
  for (;;) {
    let rec = readJson<NetmonRecord>(file(d.dataDir));
    try {
      if (rec === null || rec.requestedAt !== order.requestedAt) {
        const started = await prepare(d, order);
        if (started !== null) return started;
        continue;
      }
      const [current, old] = await Promise.all([seen(d.docker, NETMON_CONTAINER), seen(d.docker, OLD_NAME)]);
      const action = nextNetmonAction({ phase: rec.phase, oldId: rec.oldId, oldPolicy: rec.oldPolicy, current, old, createdHere });
      d.log.info({ phase: rec.phase, action: action.do }, 'netmon swap');
      await pauseIfAsked(`netmon:${rec.phase}/${action.do}`, d.log);
      rec = await carryOut(d, rec, action, current, old);
      if (action.do === 'finish') return await finish(d, rec);
    } catch (e) {
      const end = await afterFailure(d, rec === null || rec.requestedAt !== order.requestedAt ? null : rec, messageOf(e));
      if (end !== null) return end;
      continue;
    }
    failingSince = null;
  }
}

/** A Docker call failed: retried (re-planned from fresh observations) after a pause; past the budget an
 * order not yet started ends in error and a swap not yet proven rolls back. Null: go on at once. */
async function afterFailure(d: NetmonSwapDeps, rec: NetmonRecord | null, err: string): Promise<NetmonSwapResult | null> {
  const { pauseMs, budgetMs } = d.retry ?? { pauseMs: RETRY_PAUSE_MS, budgetMs: RETRY_BUDGET_MS };
  failingSince ??= performance.now();
  const over = performance.now() - failingSince > budgetMs;
  if (over && rec === null) {
    failingSince = null;
    return { end: 'error', error: `netmon swap: ${err}` };
  }
  if (over && rec !== null && ROLLBACK_ON_FAILURE.includes(rec.phase)) {
    failingSince = null;
    d.log.error({ err, phase: rec.phase }, 'netmon swap: Docker calls kept failing; rolling back');
    write(d.dataDir, { ...rec, phase: 'rolling_back', reason: `${DOCKER_KEPT_FAILING} for ${budgetMs / 1000} s: ${err}` });
    return null;
  }
  d.log.error({ err }, 'netmon swap: action failed; retried');
  await sleep(pauseMs);
  return { end: 'pending' };
}

/** Writes `prepared`, or says why there is no swap (null: prepared). */
async function prepare(d: NetmonSwapDeps, order: { requestedAt: string; image: string }): Promise<NetmonSwapResult | null> {
  const running = await seen(d.docker, NETMON_CONTAINER);
  if (running === null) return { end: 'error', error: `there is no ${NETMON_CONTAINER} container to swap` };
  const img = await d.docker.getImage(order.image).inspect().catch((e: unknown) => (statusOf(e) === 404 ? null : Promise.reject(e as Error)));
  if (img === null) return { end: 'error', error: `netmon image ${order.image} is no longer local (removed after it was pulled)` };
  const decision = netmonSwapDecision(running.info.Image, img.Id, d.store.state.agent.failedNetmonUpdates ?? []);
  if (!decision.swap) {
    d.log.info({ image: order.image, why: decision.why }, 'netmon swap: none');
    return decision.error ? { end: 'error', error: decision.why } : { end: 'done' };
  }
  const version = (img.Config.Env ?? []).find((e) => e.startsWith('AGENT_VERSION='))?.slice('AGENT_VERSION='.length) || null;
  createdHere = null;
  write(d.dataDir, {
    requestedAt: order.requestedAt,
    phase: 'prepared',
    oldId: running.id,
    oldPolicy: running.restartPolicy,
    newImage: order.image,
    newImageId: img.Id,
    newVersion: version,
    gateSeconds: d.gateSeconds,
    at: '',
  });
  d.log.warn({ image: order.image, imageId: img.Id, version }, 'netmon swap: prepared');
  return null;
}

type Seen = Awaited<ReturnType<typeof seen>>;

/** One action; returns the record as it now is on disk. */
async function carryOut(d: NetmonSwapDeps, rec: NetmonRecord, a: NetmonAction, current: Seen, old: Seen): Promise<NetmonRecord> {
  const { docker } = d;
  const next = (r: NetmonRecord) => (write(d.dataDir, r), r);
  switch (a.do) {
    case 'renameCurrentToOld':
      await docker.getContainer(current!.id).rename({ name: OLD_NAME });
      return rec;
    case 'stopOld':
      await docker.getContainer(old!.id).update({ RestartPolicy: { Name: 'no' } });
      await ignore(docker.getContainer(old!.id).stop({ t: STOP_TIMEOUT_S }), 304);
      return rec;
    case 'removeCurrent':
      await ignore(docker.getContainer(a.id).remove({ force: true }), 404);
      return rec;
    case 'createCandidate': {
      // As for the agent: the old container's config (binds, mounts, pid/network host, capabilities or
      // --privileged, devices) minus what the old image set, so the new image's AGENT_VERSION wins.
      const image = await docker.getImage(old!.info.Image).inspect();
      const c = await docker.createContainer(newAgentContainerRequest(old!.info, image.Config, rec.newImage, NETMON_CONTAINER, { Name: 'no' }));
      createdHere = c.id;
      d.log.info({ candidate: c.id, image: rec.newImage }, 'netmon swap: new netmon created');
      return next({ ...rec, candidateId: c.id });
    }
    case 'startTrial': {
      const r = next({ ...rec, phase: 'trial', candidateId: current!.id });
      trialStartedMono = performance.now();
      await docker.getContainer(current!.id).start();
      return r;
    }
    case 'gate': {
      const reason = await gate(d, rec, current!.id);
      if (reason === null) d.log.info({ candidate: current!.id }, 'netmon swap: the new netmon reported; committing');
      else d.log.error({ candidate: current!.id, reason }, 'netmon swap: the new netmon failed the gate; rolling back');
      return next(reason === null ? { ...rec, phase: 'committing' } : { ...rec, phase: 'rolling_back', reason });
    }
    case 'setPhase':
      return next({ ...rec, phase: a.phase, ...(a.reason !== undefined ? { reason: a.reason } : {}) });
    case 'setCurrentPolicy':
      await docker.getContainer(current!.id).update({ RestartPolicy: { Name: a.policy } });
      return rec;
    case 'removeOld':
      await ignore(docker.getContainer(old!.id).remove({ force: true }), 404);
      return rec;
    case 'renameOldToCurrent':
      await docker.getContainer(old!.id).rename({ name: NETMON_CONTAINER });
      return rec;
    case 'startCurrent':
      await ignore(docker.getContainer(current!.id).start(), 304);
      return rec;
    case 'finish':
    case 'restoreState': // netmon has no state.json: its view never asks for it
      return rec;
  }
}

/** Null when the candidate's network_discovery (with its version) arrived in time; else why not. */
async function gate(d: NetmonSwapDeps, rec: NetmonRecord, id: string): Promise<string | null> {
  const since = trialStartedMono ?? performance.now();
  const deadline = since + rec.gateSeconds * 1000;
  for (;;) {
    const l = d.link();
    // A connection and a discovery younger than the start: the old netmon was stopped before it, so they
    // come from the candidate. One that reports no version (upstream's netmon, an older build) passes too.
    const fresh = l.connected && (l.connectedMono ?? -Infinity) > since && (l.lastDiscoveryMono ?? -Infinity) > since;
    if (fresh && (rec.newVersion === null || l.version === null || l.version === rec.newVersion)) return null;
    const c = await d.docker.getContainer(id).inspect().catch((e: unknown) => (statusOf(e) === 404 ? null : Promise.reject(e as Error)));
    if (c === null) return 'the new netmon container is gone';
    if (!c.State.Running) return `the new netmon exited with code ${c.State.ExitCode}`;
    if ((c.RestartCount ?? 0) > 0) return 'the new netmon restarted';
    if (performance.now() > deadline) {
      const seenVersion = l.lastDiscoveryMono !== null && l.lastDiscoveryMono > since ? ` (it reported ${l.version ?? 'no version'})` : '';
      return `the new netmon did not report ${rec.newVersion === null ? 'a network discovery' : `version ${rec.newVersion}`} within ${rec.gateSeconds} s${seenVersion}`;
    }
    await sleep(POLL_MS);
  }
}

/** The outcome into state.json, then the file is kept once as netmon-update.last.json. */
async function finish(d: NetmonSwapDeps, rec: NetmonRecord): Promise<NetmonSwapResult> {
  createdHere = null;
  let result: NetmonSwapResult = { end: 'done' };
  if (rec.phase === 'rolled_back') {
    const reason = rec.reason ?? 'rolled back';
    await d.store.update('desired', (s) => {
      s.agent.failedNetmonUpdates = recordFailedNetmon(s.agent.failedNetmonUpdates ?? [], rec.newImageId, reason, new Date().toISOString());
    });
    d.log.error({ image: rec.newImage, reason }, 'netmon swap rolled back; the old netmon runs again');
    result = { end: 'error', error: `netmon rolled back: ${reason}` };
  } else {
    d.log.info({ image: rec.newImage }, 'netmon swap: committed');
  }
  try {
    fs.renameSync(file(d.dataDir), path.join(d.dataDir, 'netmon-update.last.json'));
  } catch {
    /* already gone */
  }
  return result;
}
