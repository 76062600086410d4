// What every topic shares (CONTRACT §4): the echoed correlation id, the common optional fields, and
// `<field path>: <what is wrong>` errors that quote at most 64 characters of the offending value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as z from 'zod';
import { baseFields, correlationIdOf, deviceId, deviceIdOrOrchestrator, parsePayload, validationError, type Parsed } from '../../src/sources/cloud/envelope.js';
import { ORCHESTRATOR_ID } from '../../src/domain/names.js';
import { firstIssueMessage, formatPath, quote } from '../../src/domain/validation-error.js';

const topic = z.object({
  ...baseFields,
  device_id: deviceId,
  vnic_configs: z.array(z.object({ name: z.string(), ip: z.string().regex(/^\d+\.\d+\.\d+\.\d+$/, { message: 'not an IPv4 address' }) })).optional(),
});

/** The error of a rejected payload (fails the test if it was accepted). */
function errorOf<T>(r: Parsed<T>): string {
  assert.equal(r.ok, false, `expected a rejection, got ${JSON.stringify(r)}`);
  if (r.ok) throw new Error('unreachable');
  assert.equal(r.ack.status, 'error');
  assert.deepEqual(Object.keys(r.ack).sort(), ['error', 'status']);
  return r.ack.error as string;
}

test('correlationIdOf: a number or a string of at most 128 characters, as received; else null', () => {
  assert.equal(correlationIdOf({ correlation_id: 42 }), 42);
  assert.equal(correlationIdOf({ correlation_id: 0 }), 0);
  assert.equal(correlationIdOf({ correlation_id: -1.5 }), -1.5);
  assert.equal(correlationIdOf({ correlation_id: 'abc-123' }), 'abc-123');
  assert.equal(correlationIdOf({ correlation_id: '' }), '');
  assert.equal(correlationIdOf({ correlation_id: 'c'.repeat(128) }), 'c'.repeat(128));
  assert.equal(correlationIdOf({ correlation_id: 'c'.repeat(129) }), null);
  for (const c of [true, null, undefined, { id: 1 }, [1]]) assert.equal(correlationIdOf({ correlation_id: c }), null, JSON.stringify(c));
  assert.equal(correlationIdOf({}), null);
  // Not an object: null, whatever it holds.
  for (const p of [undefined, null, 'correlation_id', 7, true, [{ correlation_id: 1 }]]) assert.equal(correlationIdOf(p), null, JSON.stringify(p));
});

test('parsePayload: a payload that is not an object is an error naming (payload) and what it was', () => {
  assert.equal(errorOf(parsePayload(topic, null)), '(payload): expected an object, got null');
  assert.equal(errorOf(parsePayload(topic, [])), '(payload): expected an object, got an array');
  assert.equal(errorOf(parsePayload(topic, [{ device_id: 'plc-a' }])), '(payload): expected an object, got an array');
  assert.match(errorOf(parsePayload(topic, undefined)), /^\(payload\): expected an object, got undefined/);
  assert.match(errorOf(parsePayload(topic, 'plc-a')), /^\(payload\): expected an object, got string "plc-a"$/);
  assert.match(errorOf(parsePayload(topic, 17)), /^\(payload\): expected an object, got number .*17/);
  assert.match(errorOf(parsePayload(topic, false)), /^\(payload\): expected an object, got boolean .*false/);
});

test('parsePayload: a string payload is quoted with at most 64 of its characters', () => {
  const e = errorOf(parsePayload(topic, 'x'.repeat(10_000)));
  assert.equal(e, `(payload): expected an object, got string "${'x'.repeat(64)}…"`);
});

test('parsePayload: errors name the field, nested paths included', () => {
  assert.match(errorOf(parsePayload(topic, {})), /^device_id: /);
  assert.match(errorOf(parsePayload(topic, { device_id: 'a b' })), /^device_id: not a device name/);
  assert.match(errorOf(parsePayload(topic, { device_id: 7 })), /^device_id: /);
  assert.equal(
    errorOf(parsePayload(topic, { device_id: 'plc-a', vnic_configs: [{ name: 'eth0', ip: '10.0.0.1' }, { name: 'eth1', ip: 'ten' }] })),
    'vnic_configs[1].ip: not an IPv4 address',
  );
  assert.match(errorOf(parsePayload(topic, { device_id: 'plc-a', vnic_configs: [{ ip: '10.0.0.1' }] })), /^vnic_configs\[0\]\.name: /);
});

test('baseFields: correlation_id, action and requested_at are optional, nullable and checked', () => {
  const ok = (p: Record<string, unknown>) => {
    const r = parsePayload(topic, { device_id: 'plc-a', ...p });
    assert.ok(r.ok, JSON.stringify(r));
    return r.value;
  };
  assert.deepEqual(ok({}), { device_id: 'plc-a' });
  assert.deepEqual(ok({ correlation_id: null, action: null, requested_at: null }), { device_id: 'plc-a', correlation_id: null, action: null, requested_at: null });
  assert.equal(ok({ correlation_id: 9 }).correlation_id, 9);
  assert.equal(ok({ correlation_id: 'c'.repeat(128) }).correlation_id, 'c'.repeat(128));
  assert.equal(ok({ action: 'delete_device' }).action, 'delete_device');
  for (const t of ['2024-05-01T10:00:00Z', '2024-05-01T10:00:00.123Z', '2024-05-01T10:00:00+02:00', '2024-05-01T10:00']) assert.equal(ok({ requested_at: t }).requested_at, t);
  // Unknown extra fields are ignored (stripped), not an error.
  assert.deepEqual(ok({ colour: 'red', nested: { a: 1 } }), { device_id: 'plc-a' });

  const bad = (p: Record<string, unknown>) => errorOf(parsePayload(topic, { device_id: 'plc-a', ...p }));
  assert.match(bad({ correlation_id: true }), /^correlation_id: /);
  assert.match(bad({ correlation_id: { id: 1 } }), /^correlation_id: /);
  assert.match(bad({ correlation_id: 'c'.repeat(129) }), /^correlation_id: /);
  assert.match(bad({ action: 5 }), /^action: /);
  assert.match(bad({ action: 'a'.repeat(129) }), /^action: /);
  for (const t of ['yesterday', '2024-05-01', '2024-13-01T10:00:00Z', '2024-05-01 10:00:00', 17]) assert.match(bad({ requested_at: t }), /^requested_at: /, String(t));
});

test('device names: deviceId takes a stored runtime name; deviceIdOrOrchestrator also the reserved id', () => {
  const one = (schema: z.ZodType, v: unknown) => parsePayload(z.object({ device_id: schema }), { device_id: v });
  for (const v of ['plc-a', 'PLC_1.main', 'a'.repeat(63)]) assert.ok(one(deviceId, v).ok, v);
  for (const v of ['', '-plc', 'plc a', 'plc/a', 'a'.repeat(64), ORCHESTRATOR_ID]) assert.match(errorOf(one(deviceId, v)), /^device_id: not a device name/, v);
  assert.ok(one(deviceIdOrOrchestrator, ORCHESTRATOR_ID).ok);
  assert.ok(one(deviceIdOrOrchestrator, 'plc-a').ok);
  for (const v of ['__orchestrator', '_x', 'plc a', 5]) assert.match(errorOf(one(deviceIdOrOrchestrator, v)), /^device_id: /, String(v));
});

test('validationError is the error ack', () => {
  assert.deepEqual(validationError('x: wrong'), { status: 'error', error: 'x: wrong' });
});

test('quote: at most 64 characters of the value, whatever its type', () => {
  assert.equal(quote('short'), '"short"');
  assert.equal(quote('q'.repeat(64)), `"${'q'.repeat(64)}"`);
  assert.equal(quote('q'.repeat(65)), `"${'q'.repeat(64)}…"`);
  assert.equal(quote(12), '"12"');
  assert.equal(quote({ a: 1 }), JSON.stringify('{"a":1}'));
  const big = { list: Array.from({ length: 1000 }, (_, i) => i) };
  assert.equal(quote(big), JSON.stringify(`${JSON.stringify(big).slice(0, 64)}…`));
  // Values JSON cannot represent still quote, capped.
  assert.equal(quote(undefined), '"undefined"');
  assert.equal(quote(10n ** 100n), JSON.stringify(`${String(10n ** 100n).slice(0, 64)}…`));
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  assert.equal(quote(circular), '"[object Object]"');
  // The cap counts the value's characters; escaping may lengthen the quoted form, never the content.
  const quotes = quote('"'.repeat(100));
  assert.equal(JSON.parse(quotes), `${'"'.repeat(64)}…`);
  // Whatever the input size, the quoted form stays small.
  for (const v of ['\u00e9'.repeat(1e5), '\n'.repeat(1e5), Array(1e4).fill('x')]) assert.ok(quote(v).length <= 64 * 6 + 3, String(quote(v).length));
});

test('formatPath and firstIssueMessage: `<field path>: <what is wrong>`', () => {
  assert.equal(formatPath([]), '(payload)');
  assert.equal(formatPath(['device_id']), 'device_id');
  assert.equal(formatPath(['vnic_configs', 1, 'ip']), 'vnic_configs[1].ip');
  assert.equal(formatPath([0, 'a']), '[0].a');
  assert.equal(formatPath(['headers', 'x-y', 2, 3]), 'headers.x-y[2][3]');
  const r = z.object({ a: z.array(z.object({ b: z.number({ message: 'not a number' }) })) }).safeParse({ a: [{ b: 1 }, { b: 'x' }] });
  assert.ok(!r.success);
  assert.equal(firstIssueMessage(r.error), 'a[1].b: not a number');
  assert.equal(firstIssueMessage(new z.ZodError([])), '(payload): invalid');
});
