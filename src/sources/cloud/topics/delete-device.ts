// delete_device (CONTRACT §5.2): mark for deletion; the reconciler removes everything of the runtime.
import * as z from 'zod';
import { statusOf } from '../../../docker/client.js';
import { LABEL } from '../../../domain/names.js';
import { markForDeletion } from '../../../store/desired-state.js';
import { baseFields, deviceId, notAccepted, parsePayload, validationError } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object({ ...baseFields, device_id: deviceId });

export const deleteDevice: Topic = {
  name: 'delete_device',
  async handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return p.ack;
    const id = p.value.device_id;
    try {
      if (await markForDeletion(ctx.store, id)) return { status: 'deleting', device_id: id, message: `Container deletion started for ${id}` };
    } catch (e) {
      return notAccepted(e);
    }
    // Not declared: a labelled leftover is garbage-collected anyway; an unlabelled container is not ours.
    try {
      const c = await ctx.docker.getContainer(id).inspect();
      if (c.Config.Labels?.[LABEL.managed] === 'true') {
        ctx.controller.wake();
        return { status: 'deleting', device_id: id, message: `Container deletion started for ${id}` };
      }
      return validationError(`device_id: ${id} is a container this agent does not manage`);
    } catch (e) {
      if (statusOf(e) !== 404) return validationError(`device_id: cannot check Docker for ${id}: ${(e as Error).message}`);
    }
    return { status: 'not_found', device_id: id, message: `Device ${id} not found` };
  },
};
