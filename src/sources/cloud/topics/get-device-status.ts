// get_device_status (CONTRACT §5.6): the reconciler's view (phase, conditions, generations) plus live
// Docker facts read now. `__orchestrator__` reports the uninstall's progress.
import * as z from 'zod';
import { containerNamed } from '../../../docker/runtime-owner.js';
import { notOwnedRuntime } from '../../../domain/ownership.js';
import { attachmentsOf, wifiNetworkName } from '../../../domain/attachments.js';
import { dhcpOn } from '../../../reconcilers/status.js';
import { internalNetworkName, ORCHESTRATOR_ID } from '../../../domain/names.js';
import { baseFields, deviceIdOrOrchestrator, parsePayload, type Ack } from '../envelope.js';
import type { Topic, TopicContext } from '../topic.js';
import type { AgentUpdate } from '../../../store/schema.js';

const schema = z.object({ ...baseFields, device_id: deviceIdOrOrchestrator });

async function liveFacts(ctx: TopicContext, id: string): Promise<Ack | null> {
  // Only a declared runtime's own container (never the agent's, netmon's or another program's).
  const rec = ctx.store.state.runtimes[id];
  const c = rec ? await containerNamed(ctx.docker, id) : null;
  if (!rec || c === null || notOwnedRuntime(id, id, c.Config.Labels ?? {}, rec.adoption !== undefined) !== null) return null;
  const internal = internalNetworkName(id);
  // What the LAN sees is what the container's namespace holds (CONTRACT §5.6, §7, §9.1), read through
  // netmon: each MACVLAN endpoint's interface is the one on its network's parent, whatever its address
  // and MAC are now. Docker's endpoint record is only the fallback when netmon cannot tell.
  let ns: NsIface[] | null = null;
  if (c.State.Running && c.State.Pid && ctx.netmon.connected) {
    const a = await ctx.netmon.command({ command: 'get_macs', pid: c.State.Pid }, 3000);
    if (a.success === true && Array.isArray(a.interfaces)) ns = a.interfaces as NsIface[];
  }
  const networks: Record<string, { ip_address: string | null; mac_address: string | null; gateway: string | null }> = {};
  for (const [name, ep] of Object.entries(c.NetworkSettings.Networks ?? {})) {
    if (name === internal) continue;
    const iface = ns?.find((i) => onParent(name, i.parent));
    const mac = iface?.mac ?? (ep.MacAddress || null);
    const vnic = rec ? dhcpOn(rec, name) : undefined;
    if (!vnic) {
      networks[name] = { ip_address: ep.IPAddress || null, mac_address: mac, gateway: ep.Gateway || null };
      continue;
    }
    // A `dhcp` vNIC shows its lease from the LAN's server only, and only while its interface holds it:
    // null before the first lease, after a lost one and while a new interface waits for its own.
    const l = rec.status.dhcp[vnic.name];
    const lease = c.State.Running && l && (l.event === 'bound' || l.event === 'renew') && l.ip && (!ns || iface?.ipv4.includes(l.ip)) ? l : null;
    networks[name] = { ip_address: lease?.ip ?? null, mac_address: mac, gateway: lease?.gateway ?? null };
  }
  // vNICs on Wi-Fi parents (CONTRACT §9.2): no Docker network; the LAN sees the host's MAC for them.
  for (const a of rec ? attachmentsOf(rec.spec, ctx.store.state.host.interfaces).filter((x) => x.wifi) : []) {
    const l = rec.status.dhcp[a.vnic.name];
    const leased = l && (l.event === 'bound' || l.event === 'renew') ? l : null;
    networks[wifiNetworkName(a.parent, a.vnic.name)] = {
      ip_address: a.vnic.mode === 'dhcp' ? (leased?.ip ?? null) : (a.vnic.ip ?? null),
      mac_address: null,
      gateway: a.vnic.mode === 'dhcp' ? (leased?.gateway ?? null) : a.gateway,
    };
  }
  const running = c.State.Running;
  return {
    container_status: c.State.Status,
    is_running: running,
    networks,
    restart_count: (rec?.status.restartCount ?? 0) + (rec?.status.crashRestarts ?? 0) + (c.RestartCount ?? 0),
    internal_ip: c.NetworkSettings.Networks?.[internal]?.IPAddress || null,
    ...(running ? { uptime_seconds: Math.max(0, Math.floor((Date.now() - Date.parse(c.State.StartedAt)) / 1000)) } : { exit_code: c.State.ExitCode }),
  };
}

/** `__orchestrator__`: the self-update's progress (reference §18.4), the self-destruct's (CONTRACT §5.8), whichever is under way or was asked last. */
function orchestratorStatus(ctx: TopicContext): Ack {
  const id = ORCHESTRATOR_ID;
  const { uninstall: u, update } = ctx.store.state.agent;
  const uninstallActive = u && u.step !== 'done' && u.error === null;
  if (update && !uninstallActive && (!u || update.requestedAt >= u.requestedAt)) return updateStatus(update);
  if (!u) return { status: 'not_found', device_id: id, message: 'No self-destruct operation in progress' };
  return {
    status: u.error ? 'error' : u.step === 'done' ? 'success' : 'deleting',
    device_id: id,
    operation: 'delete',
    step: u.step,
    started_at: u.requestedAt,
    ...(u.error
      ? { error: u.error, message: `Operation failed: ${u.error}` }
      : { message: u.step === 'done' ? 'The orchestrator was uninstalled' : 'The orchestrator is being uninstalled' }),
  };
}

function updateStatus(u: AgentUpdate): Ack {
  // While (or where) the agent swaps netmon: upstream's step name for its netmon swap (reference §18.4).
  const step = u.netmonStep === 'swapping' ? 'upgrading_netmon' : u.step;
  const base = { device_id: ORCHESTRATOR_ID, operation: 'upgrade', step, started_at: u.requestedAt, updated_at: u.updatedAt };
  if (u.error !== null) return { status: 'error', ...base, error: u.error, message: `Operation failed: ${u.error}` };
  if (u.step === 'done') {
    const netmon = u.netmonImage ? { netmon_image: u.netmonImage } : {};
    return { status: 'success', ...base, image: u.image, ...netmon, ...(u.previousVersion !== undefined ? { previous_version: u.previousVersion } : {}) };
  }
  return { status: 'upgrading', ...base };
}

/** Extension (issue #23): the agent's own conditions, in the runtimes' condition shape. */
function agentConditions(ctx: TopicContext): Ack {
  const c = ctx.disk?.condition;
  return c ? { conditions: [{ type: 'DiskPressure', status: c.status, reason: c.reason, message: c.message, last_transition_time: c.lastTransitionTime }] } : {};
}

type NsIface = { mac: string; ipv4: string[]; parent: string | null };

/** A MACVLAN network's name says its parent: `macvlan_<parent>_<a.b.c.d>_<prefix>` (or the Python v1's `macvlan_<parent>`). */
const onParent = (network: string, parent: string | null) =>
  parent !== null && (network === `macvlan_${parent}` || (network.startsWith(`macvlan_${parent}_`) && /^\d{1,3}(\.\d{1,3}){3}_\d{1,2}$/.test(network.slice(`macvlan_${parent}_`.length))));

export const getDeviceStatus: Topic = {
  name: 'get_device_status',
  async handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return p.ack;
    const id = p.value.device_id;
    if (id === ORCHESTRATOR_ID) return { ...orchestratorStatus(ctx), ...agentConditions(ctx) };
    const rec = ctx.store.state.runtimes[id];
    let live: Ack | null;
    try {
      live = await liveFacts(ctx, id);
    } catch (e) {
      return { status: 'error', device_id: id, error: `Failed to retrieve container status: ${(e as Error).message}` };
    }
    if (!rec) return { status: 'not_found', device_id: id, message: `Container ${id} does not exist` };
    const st = rec.status;
    const failure = ctx.controller.failureOf(`runtime/${id}`);
    const status = rec.deletion ? 'deleting' : st.lastError ? 'error' : st.observedGeneration === 0 ? 'creating' : 'success';
    const nextRetry = st.backoffUntil ?? (failure ? new Date(failure.until).toISOString() : null);
    return {
      status,
      device_id: id,
      ...(st.lastError ? { error: st.lastError } : {}),
      ...(live ?? {}),
      phase: st.phase,
      generation: rec.generation,
      observed_generation: st.observedGeneration,
      conditions: st.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, last_transition_time: c.lastTransitionTime })),
      ...(nextRetry ? { next_retry_at: nextRetry } : {}),
      // Extension: a runtime version upgrade under way, rolled back or held (docs/runtime-containers.md).
      ...(st.upgrade
        ? {
            upgrade: {
              stage: st.upgrade.stage,
              generation: st.upgrade.generation,
              from_version: st.upgrade.from.spec.runtimeVersion,
              to_image: st.upgrade.toImage,
              started_at: st.upgrade.startedAt,
              ...(st.upgrade.failedVersion !== undefined ? { failed_version: st.upgrade.failedVersion } : {}),
              ...(st.upgrade.reason !== undefined ? { reason: st.upgrade.reason } : {}),
            },
          }
        : {}),
      // CONTRACT §9.4 / §9.3: only when configured.
      ...(rec.spec.serialConfigs
        ? {
            serial_ports: (st.serialPorts ?? []).map((sp) => ({
              name: sp.name,
              device_id: sp.device_id,
              container_path: sp.container_path,
              status: sp.status,
              current_host_path: sp.current_host_path,
              major: sp.major,
              minor: sp.minor,
              ...(sp.error ? { error: sp.error } : {}),
            })),
          }
        : {}),
      ...(rec.spec.dedicatedInterface !== undefined
        ? { dedicated_interface: { name: rec.spec.dedicatedInterface, present: st.dedicatedInterface?.present ?? false, ...(st.dedicatedInterface?.error ? { error: st.dedicatedInterface.error } : {}) } }
        : {}),
    };
  },
};
