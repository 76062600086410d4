// get_orchestrator_version (reference §18.3): the agent's and netmon's versions and the agent's local
// image id, all strings, `unknown` when not known; plus the commit, the image's reference and registry
// digest. No Docker call but one inspect per process (the agent's own container, cached); netmon's
// version comes with its discovery.
import * as z from 'zod';
import { selfImage } from '../../../update/self-image.js';
import { COMMIT } from '../../../version.js';
import { baseFields, parsePayload } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object(baseFields);

export const getOrchestratorVersion: Topic = {
  name: 'get_orchestrator_version',
  async handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return p.ack;
    const self = await selfImage(ctx.docker, ctx.agent.containerId);
    return {
      status: 'success',
      orchestrator_version: ctx.agent.version,
      netmon_version: ctx.netmon.version ?? 'unknown',
      orchestrator_image_id: self?.imageId ?? 'unknown',
      // Extensions.
      orchestrator_commit: COMMIT,
      orchestrator_image: self?.reference ?? null,
      orchestrator_image_digest: self?.digest ?? null,
    };
  },
};
