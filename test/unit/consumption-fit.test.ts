// Issue #26: a 24 h get_consumption_orchestrator (the host sampled every 5 s: 17,280 samples a series) is
// larger than ORCH_MAX_ACK_BYTES and was answered with an error; its series are thinned to fit instead.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitAck, jsonBytes } from '../../src/sources/cloud/ack-size.js';
import type { TopicContext } from '../../src/sources/cloud/topic.js';
import { getConsumptionOrchestrator } from '../../src/sources/cloud/topics/consumption.js';
import { UsageHistory } from '../../src/telemetry/usage-history.js';

const MAX = 999_000; // ORCH_MAX_ACK_BYTES' default

test('24 h of host samples every 5 s: the answer fits the ack cap, the last hour whole, older samples at most 30 s apart', async () => {
  const history = new UsageHistory('/nonexistent/usage.ndjson', { thinned: (k) => k.startsWith('device/') });
  const now = Math.floor(Date.now() / 1000);
  const from = now - 24 * 3600;
  for (let t = from; t <= now; t += 5) history.add('agent', [t, 10 + (t % 90), 1000 + (t % 700)]);
  const host = { cpuPercent: 1, memUsedBytes: 2 ** 30, memTotalBytes: 2 ** 33, diskUsedBytes: 2 ** 33, diskTotalBytes: 2 ** 36 };
  const ctx = {
    telemetry: { history, last: host, host: { staticFacts: () => Promise.resolve({ cpus: 2, os: 'Debian GNU/Linux 12', kernel: '6.1.0' }), sample: () => Promise.resolve(host) } },
    store: { state: { host: { interfaces: [] } } },
    config: { maxAckBytes: MAX },
  } as unknown as TopicContext;
  const all = history.query('agent', from, now).length;
  assert.ok(jsonBytes(history.query('agent', from, now).map((s) => ({ timestamp: s[0], cpu: s[1] }))) * 2 > MAX, 'unthinned, the answer would not fit');

  const ack = (await getConsumptionOrchestrator.handle([{ correlation_id: 7, cpuPeriod: '24h', memoryPeriod: '24h' }], ctx)) as Record<string, unknown>;
  const fitted = fitAck({ action: 'get_consumption_orchestrator', correlation_id: 7, ...ack }, MAX);
  assert.equal(fitted.replaced, false, `answered, not replaced (${fitted.bytes} bytes)`);
  assert.equal(ack.status, 'success');
  for (const [field, value] of [['cpu_usage', 'cpu'], ['memory_usage', 'memory']] as const) {
    const series = ack[field] as Record<string, number>[];
    const ts = series.map((x) => x.timestamp!);
    assert.ok(series.length < all && series.length > 3000, `${field}: thinned (${series.length} of ${all})`);
    assert.equal(ts[0], from, `${field}: from the start of the period`);
    assert.equal(ts.at(-1), now, `${field}: to the newest sample`);
    assert.equal(ts.filter((t) => t > now - 3600).length, 720, `${field}: the last hour whole`);
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! - ts[i - 1]! <= 30, `${field}: a gap of ${ts[i]! - ts[i - 1]!} s at ${ts[i]}`);
    assert.ok(series.every((x) => Number.isInteger(x[value])));
  }
});
