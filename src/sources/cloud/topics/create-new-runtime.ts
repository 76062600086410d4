// create_new_runtime (CONTRACT §5.1): validate both dialects, write the desired runtime durably, ack.
import dns from 'node:dns/promises';
import net from 'node:net';
import * as z from 'zod';
import { normalizeCreateRequest } from '../../../domain/runtime-spec.js';
import { nameRefusal } from '../../../docker/runtime-owner.js';
import { DesiredStateError, putRuntime } from '../../../store/desired-state.js';
import { baseFields, notAccepted, parsePayload, validationError } from '../envelope.js';
import type { Topic, TopicContext } from '../topic.js';

const base = z.object(baseFields);

/** The NIC the host reaches the cloud through (netmon's `route_get`), so that it is never dedicated. */
async function routeToCloud(ctx: TopicContext): Promise<string | null> {
  if (ctx.config.cloudUrl === null) return null;
  const host = new URL(ctx.config.cloudUrl).hostname.replace(/^\[|\]$/g, '');
  const address = net.isIPv4(host) ? host : await dns.lookup(host, { family: 4 }).then((r) => r.address, () => null);
  if (address === null) return null; // unresolvable now: the default-route rule still protects the uplink
  const a = await ctx.netmon.command({ command: 'route_get', address });
  return a.success === true && typeof a.interface === 'string' ? a.interface : null;
}

export const createNewRuntime: Topic = {
  name: 'create_new_runtime',
  async handle([payload], ctx) {
    const b = parsePayload(base, payload);
    if (!b.ok) return b.ack;
    const n = normalizeCreateRequest(payload);
    if (!n.ok) return validationError(n.error);
    let result;
    try {
      const taken = await nameRefusal(ctx.docker, n.spec.name, n.spec.name in ctx.store.state.runtimes);
      if (taken !== null) return validationError(taken);
      const cloudInterface = n.spec.dedicatedInterface !== undefined ? await routeToCloud(ctx) : null;
      result = await putRuntime(ctx.store, n.spec, { cloudInterface });
    } catch (e) {
      if (e instanceof DesiredStateError) return validationError(e.message);
      return notAccepted(e);
    }
    const name = n.spec.name;
    const serial = n.spec.serialConfigs?.length ?? 0;
    // Only a new runtime_version updates an existing runtime here: an upgrade, gated on its readiness.
    const message = result === 'updated' ? `Runtime upgrade to ${n.spec.runtimeVersion} started for ${name}` : `Container creation started for ${name}`;
    return { status: 'creating', container_id: name, device_id: name, message, ...(serial > 0 ? { serial_configs_count: serial } : {}) };
  },
};
