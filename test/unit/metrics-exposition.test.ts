import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { escapeLabelValue, formatFamilies, Histogram } from '../../src/metrics/exposition.js';
import { parseMetricsListen } from '../../src/metrics/listen.js';
import { MetricsServer } from '../../src/metrics/server.js';

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

test('the server answers GET /metrics on a unix socket, replacing a socket left by a previous run', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-metrics-'));
  const sock = path.join(dir, 'metrics.sock');
  const get = (p: string) =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) =>
      http
        .get({ socketPath: sock, path: p, agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
        })
        .on('error', reject),
    );
  try {
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(sock, r));
    stale.unref();
    (stale as unknown as { _handle: { close(): void } | null })._handle = null; // leave the socket file behind, as a killed process does
    assert.ok(fs.lstatSync(sock).isSocket(), 'a socket file is left');
    const server = new MetricsServer({ path: sock }, () => [{ name: 'orch_up', help: 'Up.', type: 'gauge', samples: [{ value: 1 }] }]);
    await server.start();
    const ok = await get('/metrics');
    assert.equal(ok.status, 200);
    assert.equal(ok.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(ok.body, '# HELP orch_up Up.\n# TYPE orch_up gauge\norch_up 1\n');
    assert.equal((await get('/other')).status, 404);
    await server.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
