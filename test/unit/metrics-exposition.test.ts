import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { escapeLabelValue, formatFamilies, Histogram } from '../../src/metrics/exposition.js';
import { parseMetricsListen } from '../../src/metrics/listen.js';

test('HELP and TYPE lines precede the samples; label values are escaped', () => {
  const text = formatFamilies([
    { name: 'orch_runtime_restarts_total', help: 'Starts after a crash.\nEver.', type: 'counter', samples: [{ labels: { device: 'a"b\\c\nd' }, value: 3 }] },
    { name: 'orch_cloud_connected', help: 'Link up.', type: 'gauge', samples: [{ value: 1 }] },
  ]);
  assert.equal(
    text,
    [
      '# HELP orch_runtime_restarts_total Starts after a crash.\\nEver.',
      '# TYPE orch_runtime_restarts_total counter',
      'orch_runtime_restarts_total{device="a\\"b\\\\c\\nd"} 3',
      '# HELP orch_cloud_connected Link up.',
      '# TYPE orch_cloud_connected gauge',
      'orch_cloud_connected 1',
      '',
    ].join('\n'),
  );
  assert.equal(escapeLabelValue('plain-name_1'), 'plain-name_1');
});

test('a histogram has cumulative buckets, +Inf, _sum and _count', () => {
  const h = new Histogram([0.1, 1]);
  for (const v of [0.05, 0.5, 2]) h.observe(v);
  const text = formatFamilies([{ name: 'orch_reconcile_pass_duration_seconds', help: 'Pass duration.', type: 'histogram', histogram: h }]);
  assert.deepEqual(text.trim().split('\n').slice(2), [
    'orch_reconcile_pass_duration_seconds_bucket{le="0.1"} 1',
    'orch_reconcile_pass_duration_seconds_bucket{le="1"} 2',
    'orch_reconcile_pass_duration_seconds_bucket{le="+Inf"} 3',
    'orch_reconcile_pass_duration_seconds_sum 2.55',
    'orch_reconcile_pass_duration_seconds_count 3',
  ]);
});

test('ORCH_METRICS_LISTEN: loopback TCP or a unix socket; anything else is a config error naming it', () => {
  assert.equal(parseMetricsListen(undefined), null);
  assert.equal(parseMetricsListen(' '), null);
  assert.deepEqual(parseMetricsListen('127.0.0.1:9469'), { host: '127.0.0.1', port: 9469 });
  assert.deepEqual(parseMetricsListen('[::1]:9469'), { host: '::1', port: 9469 });
  assert.deepEqual(parseMetricsListen('localhost:9469'), { host: 'localhost', port: 9469 });
  assert.deepEqual(parseMetricsListen('unix:/run/orch/metrics.sock'), { path: '/run/orch/metrics.sock' });
  for (const bad of ['0.0.0.0:9469', '198.51.100.7:9469', '[::]:9469', 'example.com:9469', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'unix:relative.sock']) {
    assert.throws(
      () => loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: '/tmp/x', ORCH_METRICS_LISTEN: bad }),
      (e: Error) => e instanceof ConfigError && e.message.includes('ORCH_METRICS_LISTEN: '),
      bad,
    );
  }
  assert.equal(loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: '/tmp/x' }).metricsListen, null);
});
