// start_device, stop_device, restart_device (CONTRACT §5.3): desired running / restart counter.
import * as z from 'zod';
import { setLifecycle, type LifecycleAction } from '../../../store/desired-state.js';
import { baseFields, deviceId, notAccepted, parsePayload } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object({ ...baseFields, device_id: deviceId });

function lifecycleTopic(name: string, action: LifecycleAction): Topic {
  return {
    name,
    async handle([payload], ctx) {
      const p = parsePayload(schema, payload);
      if (!p.ok) return { success: false, ...p.ack };
      const id = p.value.device_id;
      let known: boolean;
      try {
        known = await setLifecycle(ctx.store, id, action);
      } catch (e) {
        return { success: false, ...notAccepted(e) };
      }
      if (!known) return { device_id: id, success: false, status: 'error', error: `Device ${id} not found` };
      return { device_id: id, success: true, status: 'accepted', message: `${action} of ${id} accepted` };
    },
    legacyEmit: (ack) => [name, { action: ack.action, success: ack.success, correlation_id: ack.correlation_id }],
  };
}

export const startDevice = lifecycleTopic('start_device', 'start');
export const stopDevice = lifecycleTopic('stop_device', 'stop');
export const restartDevice = lifecycleTopic('restart_device', 'restart');
