// The opt-in metrics endpoint of an in-process agent on a private engine, scraped with node's HTTP client.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Agent } from '../../src/agent.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { putRuntime } from '../../src/store/desired-state.js';
import { countDockerCalls, startAgent, TEST_IMAGE } from '../support/agent-fixture.js';
import { buildBusyboxImage, buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { ENGINE_KIND, startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '198.51.100.192/26';
let engine: Engine;
let lan: Lan;
let agent: Agent;
let stopAgent: (() => Promise<void>) | null = null;
let port: number;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

function scrape(): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }));
      })
      .on('error', reject);
  });
}

/** The value of one sample line (`name{labels}`), or undefined. */
const valueOf = (body: string, series: string) => {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

const spec = (name: string, ip: string, version?: string) => {
  const r = normalizeCreateRequest({ container_name: name, ...(version ? { runtime_version: version } : {}), vnic_configs: [{ name: 'eth0', parent_interface: lan.parent, network_mode: 'static', ip, subnet: SUBNET }] });
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};

describe(`metrics endpoint (${ENGINE_KIND})`, () => {
  before(async () => {
    engine = await startPrivateEngine();
    await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
    await buildBusyboxImage(engine.docker, TEST_IMAGE, 'crash', ['/bin/sh', '-c', 'sleep 0.2; exit 3']);
    lan = createLan(SUBNET);
    port = await freePort();
    // Nothing periodic calls Docker: no resync, no usage sample, no disk check past the first one.
    ({ agent, stop: stopAgent } = await startAgent(engine, {
      ORCH_METRICS_LISTEN: `127.0.0.1:${port}`,
      ORCH_RESYNC_INTERVAL_MS: '3600000',
      ORCH_HEARTBEAT_INTERVAL_MS: '3600000',
      ORCH_DISK_CHECK_INTERVAL_MS: '3600000',
    }));
  });

  after(async () => {
    await stopAgent?.();
    lan?.remove();
    await engine?.stop();
  });

  test("a runtime's phase and the disk figures are there; a scrape makes no Docker call", async () => {
    await putRuntime(agent.store, spec('plc-m', '198.51.100.200'));
    await waitFor('plc-m running', () => agent.store.state.runtimes['plc-m']?.status.phase === 'Running');
    await waitFor('disk measured', () => agent.disk?.dockerRoot && agent.disk.dataDir);
    await agent.controller.settled();
    await new Promise((r) => setTimeout(r, 500));
    const calls = countDockerCalls(agent);
    const scrapes = [];
    for (let i = 0; i < 20; i++) scrapes.push(await scrape());
    assert.equal(calls.count, 0, 'Docker calls during 20 scrapes');
    const { status, type, body } = scrapes.at(-1)!;
    assert.equal(status, 200);
    assert.match(type, /^text\/plain; version=0\.0\.4/);
    assert.equal(valueOf(body, 'orch_runtimes{phase="Running"}'), 1);
    assert.equal(valueOf(body, 'orch_runtimes{phase="Failed"}'), 0);
    assert.equal(valueOf(body, 'orch_runtime_restarts_total{device="plc-m"}'), 0);
    assert.equal(valueOf(body, 'orch_runtime_crash_looping{device="plc-m"}'), 0);
    assert.equal(valueOf(body, 'orch_disk_avail_bytes{fs="docker_root"}'), agent.disk!.dockerRoot!.availBytes);
    assert.equal(valueOf(body, 'orch_disk_avail_bytes{fs="data_dir"}'), agent.disk!.dataDir!.availBytes);
    assert.ok(agent.disk!.dataDir!.availBytes > 0);
    assert.equal(valueOf(body, 'orch_disk_pressure'), agent.disk!.condition.status === 'True' ? 1 : 0);
    assert.ok(valueOf(body, 'orch_reconcile_passes_total')! >= 1);
    assert.ok(valueOf(body, 'orch_reconcile_steps_total{action="createContainer",result="ok"}')! >= 1);
    assert.ok(valueOf(body, 'orch_reconcile_pass_duration_seconds_count')! >= 1);
    assert.match(body, /^# TYPE orch_runtime_restarts_total counter$/m);
    // Docker call latency by operation (issue #23): the create and inspects made for plc-m, no container in a label.
    assert.ok(valueOf(body, 'orch_docker_request_duration_seconds_count{operation="POST /containers/create",result="ok"}')! >= 1, body);
    assert.ok(valueOf(body, 'orch_docker_request_duration_seconds_count{operation="POST /containers/{id}/start",result="ok"}')! >= 1, body);
    const dockerLines = body.split('\n').filter((l) => l.startsWith('orch_docker_request_duration_seconds'));
    assert.ok(dockerLines.length > 0 && !dockerLines.some((l) => l.includes('plc-m')), dockerLines.join('\n'));
    // The cloud is off: no cloud link or certificate series.
    assert.doesNotMatch(body, /orch_cloud_connected|orch_certificate_expiry/);
    assert.equal((await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, r))).statusCode, 404);
  });

  test('a runtime that keeps crashing shows its restarts and its crash loop', async () => {
    await putRuntime(agent.store, spec('plc-crash', '198.51.100.201', 'crash'));
    await waitFor('plc-crash in its crash backoff', () => agent.store.state.runtimes['plc-crash']?.status.conditions.some((c) => c.type === 'Running' && c.reason === 'CrashLoopBackOff'), 60_000);
    const { body } = await scrape();
    assert.ok(valueOf(body, 'orch_runtime_restarts_total{device="plc-crash"}')! >= 1, body);
    assert.equal(valueOf(body, 'orch_runtime_crash_looping{device="plc-crash"}'), 1);
    assert.equal(valueOf(body, 'orch_runtime_crash_looping{device="plc-m"}'), 0);
  });

  test('with ORCH_METRICS_LISTEN unset nothing listens', async () => {
    await stopAgent!();
    stopAgent = null;
    await assert.rejects(scrape(), /ECONNREFUSED/); // the stopped agent closed it
    ({ agent, stop: stopAgent } = await startAgent(engine, { ORCH_RESYNC_INTERVAL_MS: '3600000' }));
    assert.equal((agent as unknown as { metrics: unknown }).metrics, null, 'no metrics server');
    await assert.rejects(scrape(), /ECONNREFUSED/);
  });
});
