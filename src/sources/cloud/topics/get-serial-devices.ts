// get_serial_devices (CONTRACT §9.4, upstream §13.11): the serial devices netmon reported, from the host facts.
import * as z from 'zod';
import { baseFields, parsePayload } from '../envelope.js';
import type { Topic } from '../topic.js';

const schema = z.object(baseFields);

export const getSerialDevices: Topic = {
  name: 'get_serial_devices',
  handle([payload], ctx) {
    const p = parsePayload(schema, payload);
    if (!p.ok) return Promise.resolve(p.ack);
    const devices = ctx.store.state.host.serialDevices.map((d) => ({
      path: d.path,
      device_id: d.by_id,
      vendor_id: d.vendor_id,
      product_id: d.product_id,
      serial: d.serial,
      manufacturer: d.manufacturer,
      product: d.product,
      major: d.major,
      minor: d.minor,
    }));
    return Promise.resolve({ status: 'success', devices, count: devices.length });
  },
};
