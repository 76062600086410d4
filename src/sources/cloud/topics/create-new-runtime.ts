// create_new_runtime (CONTRACT §5.1): validate both dialects, write the desired runtime durably, ack.
import { z } from 'zod';
import { normalizeCreateRequest } from '../../../domain/runtime-spec.js';
import { DesiredStateError, putRuntime } from '../../../store/desired-state.js';
import { baseFields, notAccepted, parsePayload, validationError } from '../envelope.js';
import type { Topic } from '../topic.js';

const base = z.object(baseFields);

export const createNewRuntime: Topic = {
  name: 'create_new_runtime',
  async handle([payload], ctx) {
    const b = parsePayload(base, payload);
    if (!b.ok) return b.ack;
    const n = normalizeCreateRequest(payload);
    if (!n.ok) return validationError(n.error);
    try {
      await putRuntime(ctx.store, n.spec);
    } catch (e) {
      if (e instanceof DesiredStateError) return validationError(e.message);
      return notAccepted(e);
    }
    const name = n.spec.name;
    return { status: 'creating', container_id: name, device_id: name, message: `Container creation started for ${name}` };
  },
};
