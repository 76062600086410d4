// delete_orchestrator (CONTRACT §5.8): declares the uninstall; a reconciler carries it out, with its
// progress under get_device_status `__orchestrator__`.
import * as z from 'zod';
import { requestUninstall } from '../../../store/desired-state.js';
import { baseFields, notAccepted, parsePayload } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object(baseFields);

export const deleteOrchestrator: Topic = {
  name: 'delete_orchestrator',
  async handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return p.ack;
    try {
      if (!(await requestUninstall(ctx.store, ctx.agent.containerId))) return { status: 'error', error: 'Self-destruct operation already in progress' };
    } catch (e) {
      return notAccepted(e);
    }
    return {
      status: 'accepted',
      message: "Self-destruct initiated. Poll get_device_status with device_id='__orchestrator__' for progress.",
      poll_device_id: '__orchestrator__',
    };
  },
  legacyEmit: (ack) => (ack.status === 'accepted' ? ['delete_orchestrator_response', { correlation_id: ack.correlation_id, status: 'command_received' }] : null),
};
