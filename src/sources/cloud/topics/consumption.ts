// get_consumption_orchestrator and get_consumption_device (CONTRACT §5.5): usage history by period.
import * as z from 'zod';
import { statusOf } from '../../../docker/client.js';
import { parsePeriod, type Period } from '../../../telemetry/period.js';
import { deviceKey } from '../../../telemetry/telemetry.js';
import { FULL_RESOLUTION_S, THINNED_SPACING_S, type Sample } from '../../../telemetry/usage-history.js';
import { jsonBytes } from '../ack-size.js';
import { baseFields, deviceId, parsePayload, validationError } from '../envelope.js';
import type { Topic, TopicContext } from '../topic.js';

const period = z.string().max(64).optional();
const orchestratorSchema = z.object({ ...baseFields, cpuPeriod: period, memoryPeriod: period });
const deviceSchema = z.object({ ...baseFields, device_id: deviceId, cpuPeriod: period, memoryPeriod: period });

function periods(p: { cpuPeriod?: string | undefined; memoryPeriod?: string | undefined }): { cpu: Period; memory: Period } | string {
  const cpu = parsePeriod(p.cpuPeriod ?? '1h');
  if (typeof cpu === 'string') return `cpuPeriod: ${cpu}`;
  const memory = parsePeriod(p.memoryPeriod ?? '1h');
  if (typeof memory === 'string') return `memoryPeriod: ${memory}`;
  return { cpu, memory };
}

/** Room left in the ack for `action`, `correlation_id` and the other fields (a few hundred bytes). */
const ENVELOPE_BYTES = 4096;

/** Samples older than `fullSince` kept at least `spacing` s apart (the first of each stretch); newer ones all. */
function thin(samples: Sample[], spacing: number, fullSince: number): Sample[] {
  let last = -Infinity;
  return samples.filter((x) => {
    if (x[0] >= fullSince || x[0] - last >= spacing) {
      last = x[0];
      return true;
    }
    return false;
  });
}

/**
 * The series of the answer, within ORCH_MAX_ACK_BYTES: 24 h of host samples (one per heartbeat, 5 s)
 * would be ~1.2 MB. Past the last hour they are thinned as a runtime's are kept (one per 30 s), and the
 * spacing doubled until the answer fits; the last hour stays whole while anything older is left to thin.
 */
function series(ctx: TopicContext, key: string, w: { cpu: Period; memory: Period }) {
  const h = ctx.telemetry.history;
  const cpu = h.query(key, w.cpu.start, w.cpu.end);
  const memory = h.query(key, w.memory.start, w.memory.end);
  const make = (c: Sample[], m: Sample[]) => ({
    cpu_usage: c.map((s: Sample) => ({ timestamp: s[0], cpu: s[1] })),
    memory_usage: m.map((s: Sample) => ({ timestamp: s[0], memory: s[2] })),
  });
  const budget = ctx.config.maxAckBytes - ENVELOPE_BYTES;
  let out = make(cpu, memory);
  const newest = Math.max(cpu.at(-1)?.[0] ?? 0, memory.at(-1)?.[0] ?? 0);
  let fullSince = newest - FULL_RESOLUTION_S;
  for (let spacing = THINNED_SPACING_S; jsonBytes(out) > budget; spacing *= 2) {
    if (spacing > 2 * 48 * 3600) {
      if (fullSince === Infinity) break; // cannot happen: one sample per two days fits
      fullSince = Infinity;
      spacing = THINNED_SPACING_S / 2; // doubled by the loop
    }
    out = make(thin(cpu, spacing, fullSince), thin(memory, spacing, fullSince));
  }
  return out;
}

export const getConsumptionOrchestrator: Topic = {
  name: 'get_consumption_orchestrator',
  async handle([payload], ctx) {
    const p = parsePayload(orchestratorSchema, payload);
    if (!p.ok) return p.ack;
    const w = periods(p.value);
    if (typeof w === 'string') return validationError(w);
    const facts = await ctx.telemetry.host.staticFacts();
    const last = ctx.telemetry.last ?? (await ctx.telemetry.host.sample());
    const ip_addresses = ctx.store.state.host.interfaces.flatMap((i) => i.ipv4_addresses.map((a) => ({ interface: i.interface, ip_address: a.address })));
    return {
      status: 'success',
      ip_addresses,
      memory: Math.round(last.memTotalBytes / 2 ** 20),
      cpu: facts.cpus,
      os: facts.os,
      kernel: facts.kernel,
      disk: Math.round(last.diskTotalBytes / 2 ** 30),
      ...series(ctx, 'agent', w),
    };
  },
};

export const getConsumptionDevice: Topic = {
  name: 'get_consumption_device',
  async handle([payload], ctx) {
    const p = parsePayload(deviceSchema, payload);
    if (!p.ok) return p.ack;
    const w = periods(p.value);
    if (typeof w === 'string') return validationError(w);
    const id = p.value.device_id;
    if (!ctx.store.state.runtimes[id]) return { device_id: id, status: 'error', error: `Device ${id} not found` };
    let memory = 'unlimited';
    let cpu = 'unlimited';
    try {
      const c = await ctx.docker.getContainer(id).inspect();
      if (c.HostConfig.Memory) memory = `${Math.round(c.HostConfig.Memory / 2 ** 20)} MB`;
      if (c.HostConfig.NanoCpus) cpu = `${(c.HostConfig.NanoCpus / 1e9).toFixed(1)} vCPU`;
    } catch (e) {
      if (statusOf(e) !== 404) return validationError(`device_id: cannot read ${id} from Docker: ${(e as Error).message}`);
    }
    return { status: 'success', device_id: id, memory, cpu, ...series(ctx, deviceKey(id), w) };
  },
};
