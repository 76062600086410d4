// Extensions no Python agent has (CONTRACT §5.9): the state file's content, and the reconciler's plan.
import { monoNow } from '../../../clock.js';
import * as z from 'zod';
import { baseFields, parsePayload, validationError } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object(baseFields);

export const getAgentState: Topic = {
  name: 'get_agent_state',
  handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return Promise.resolve(p.ack);
    const s = ctx.store.state;
    return Promise.resolve({
      status: 'success',
      agent: {
        id: ctx.agent.id,
        version: ctx.agent.version,
        uptime: Math.floor((monoNow() - ctx.agent.startedAt) / 1000),
        last_pass_at: ctx.controller.lastPassAt ? new Date(ctx.controller.lastPassAt).toISOString() : null,
        docker_error: ctx.controller.lastObserveError,
        uninstall: s.agent.uninstall,
        /** Where the desired state came from at start: the file, its backup, or the containers' own labels. */
        state_source: ctx.store.source,
        state_unwritten: ctx.store.unwritten,
      },
      runtimes: Object.fromEntries(Object.entries(s.runtimes).map(([n, r]) => [n, { spec: r.spec, generation: r.generation, running: r.running, restart_count: r.restartCount, deletion: r.deletion, status: r.status }])),
      host: s.host,
    });
  },
};

export const getPlan: Topic = {
  name: 'get_plan',
  async handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return p.ack;
    try {
      const steps = await ctx.controller.dryRun();
      return { status: 'success', steps: steps.map((s) => ({ device_id: s.device, action: s.action, reason: s.reason })) };
    } catch (e) {
      return validationError(`(docker): cannot observe the engine: ${(e as Error).message}`);
    }
  },
};
