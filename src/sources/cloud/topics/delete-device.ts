// delete_device (CONTRACT §5.2): mark for deletion; the reconciler removes everything of the runtime.
import * as z from 'zod';
import { statusOf } from '../../../docker/client.js';
import { LABEL } from '../../../domain/names.js';
import { specFromLabel } from '../../../reconcilers/recover.js';
import { markForDeletion, takeForDeletion } from '../../../store/desired-state.js';
import { StoreWriteError } from '../../../store/store.js';
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
    // Not declared: a runtime container of ours is taken into the state as deleting, so the reconciler
    // really removes it (nothing collects runtime containers the state does not name); anything else is
    // not this topic's to remove.
    try {
      const c = await ctx.docker.getContainer(id).inspect();
      const labels = c.Config.Labels ?? {};
      if (labels[LABEL.managed] !== 'true') return validationError(`device_id: ${id} is a container this agent does not manage`);
      if (labels[LABEL.role] !== 'runtime' || labels[LABEL.device] !== id) return validationError(`device_id: ${id} is not a runtime (role ${labels[LABEL.role] ?? 'none'})`);
      const spec = specFromLabel(labels[LABEL.spec], id);
      if (spec === null) return validationError(`device_id: ${id} is not in the state and its container has no readable spec label; remove it with docker rm`);
      await takeForDeletion(ctx.store, spec, c.Created);
      if (await markForDeletion(ctx.store, id)) return { status: 'deleting', device_id: id, message: `Container deletion started for ${id}` };
    } catch (e) {
      if (e instanceof StoreWriteError) return notAccepted(e);
      if (statusOf(e) !== 404) return validationError(`device_id: cannot check Docker for ${id}: ${(e as Error).message}`);
    }
    return { status: 'not_found', device_id: id, message: `Device ${id} not found` };
  },
};
