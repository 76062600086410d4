// upgrade_orchestrator (reference §18.4; docs/updates.md): declares the agent's self-update in the state
// file; a reconciler step carries it out, with its progress under get_device_status `__orchestrator__`.
// Extensions, all optional: `image` (a full reference), `version` (a tag of the agent's own repository),
// `digest` (checked after the pull); `netmon_image` (netmon's new image, full reference) with an optional
// `netmon_digest`. Without them: `:latest` of the agent's own repository, and netmon stays.
import * as z from 'zod';
import { repoOf } from '../../../domain/spec-hash.js';
import { requestAgentUpdate } from '../../../store/desired-state.js';
import { selfImage } from '../../../update/self-image.js';
import { baseFields, notAccepted, parsePayload } from '../envelope.js';
import type { Topic } from '../topic.js';

/** The Python agent's repository (reference §18.4): the default outside a container, where no own image is known. */
export const UPSTREAM_AGENT_REPO = 'ghcr.io/autonomy-logic/orchestrator-agent';

const imageRef = z.string().regex(/^[a-z0-9][^\s@]*(@sha256:[0-9a-f]{64})?$/, { message: 'not an image reference' }).max(512).nullish();
const digestRef = z.string().regex(/^sha256:[0-9a-f]{64}$/, { message: 'expected sha256:<64 hex>' }).nullish();

const schema = z.object({
  ...baseFields,
  image: imageRef,
  version: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, { message: 'not an image tag' }).nullish(),
  digest: digestRef,
  netmon_image: imageRef,
  netmon_digest: digestRef,
});

export const upgradeOrchestrator: Topic = {
  name: 'upgrade_orchestrator',
  async handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return p.ack;
    const { image, version, digest, netmon_image: netmonImage, netmon_digest: netmonDigest } = p.value;
    if (image && version) return { status: 'error', error: 'version: give image or version, not both' };
    if (netmonDigest && !netmonImage) return { status: 'error', error: 'netmon_digest: only with netmon_image' };
    let ref = image ?? null;
    if (ref === null) {
      const self = await selfImage(ctx.docker, ctx.agent.containerId);
      ref = `${self ? repoOf(self.reference) : UPSTREAM_AGENT_REPO}:${version ?? 'latest'}`;
    }
    try {
      if (!(await requestAgentUpdate(ctx.store, { image: ref, digest: digest ?? null, netmonImage: netmonImage ?? null, netmonDigest: netmonDigest ?? null, byContainer: ctx.agent.containerId }))) {
        return { status: 'error', error: 'Upgrade or other operation already in progress' };
      }
    } catch (e) {
      return notAccepted(e);
    }
    ctx.controller.wake();
    return {
      status: 'accepted',
      message: "Upgrade initiated. Poll get_device_status with device_id='__orchestrator__' for progress.",
      poll_device_id: '__orchestrator__',
    };
  },
};
