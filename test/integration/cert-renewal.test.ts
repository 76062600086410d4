// Certificate renewal end to end: the agent as a real process with a certificate of a lifetime of seconds
// from the test CA, the mTLS test cloud, a real enrollment endpoint (the stub, signing renewals for the
// caller's own CN over mutual TLS), and a runtime on the private engine that must not notice.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Check } from '../../src/cli/doctor.js';
import { AgentProcess, runCli } from '../support/agent-process.js';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import { EnrollmentStub } from '../support/enrollment-stub.js';
import { agentMtlsDir } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '203.0.113.64/26';
const AGENT_ID = 'agent-renew-1';
const LIFETIME_S = 40; // renewal due at 30-34 s

const serialOf = (file: string) => new crypto.X509Certificate(fs.readFileSync(file)).serialNumber;
const logLines = (agent: AgentProcess) =>
  agent
    .log()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('certificate renewal', () => {
  let stack: CloudStack;
  let stub: EnrollmentStub;
  let agent: AgentProcess;
  let firstSerial: string;

  before(async () => {
    stack = await startCloudStack({
      subnet: SUBNET,
      agentId: AGENT_ID,
      lifetimeS: LIFETIME_S,
      env: async (pki) => {
        stub = new EnrollmentStub(pki);
        stub.lifetimeS = 600;
        await stub.start();
        return { ORCH_ENROLL_URL: stub.url, ORCH_LOG_LEVEL: 'info', ORCH_RESYNC_INTERVAL_MS: '2000' };
      },
    });
    agent = stack.agent;
    firstSerial = stack.cloud.connections[0]!.serial;
  });

  after(async () => {
    await stack?.teardown({ agent });
    await stub?.stop();
  });

  const runtime = () => stack.engine.docker.getContainer('plc-renew').inspect();

  test('renews before expiry with a new key over mutual TLS, reconnects with it; the runtime keeps its container and StartedAt', async () => {
    const vnic = { name: 'eth0', parent_interface: stack.lan.parent, network_mode: 'static', ip: '203.0.113.70', subnet: '255.255.255.192', gateway: '203.0.113.65', dns: ['203.0.113.65'] };
    const ack = await stack.cloud.call('create_new_runtime', { correlation_id: 1, container_name: 'plc-renew', vnic_configs: [vnic] });
    assert.equal(ack.status, 'creating');
    await waitFor('runtime running', async () => (await runtime()).State.Running, 40_000, 250);
    const before = await runtime();
    const oldKey = fs.readFileSync(path.join(stack.env.ORCH_MTLS_DIR!, 'client.key'));

    const renewal = await waitFor('a renewal', () => stub.enrollments[0], LIFETIME_S * 1000, 200);
    assert.equal(renewal.id, AGENT_ID);
    assert.equal(renewal.renewedSerial, firstSerial, 'authenticated with the current certificate');
    assert.notEqual(renewal.serial, firstSerial);
    // The link is back with the new certificate while the old one is still valid.
    const conn = await waitFor('reconnected with the new certificate', () => stack.cloud.connections.find((c) => c.serial === renewal.serial), 15_000, 100);
    assert.equal(conn.agentId, AGENT_ID);
    const oldNotAfter = Date.parse(new crypto.X509Certificate(fs.readFileSync(path.join(stack.env.ORCH_MTLS_DIR!, 'client.crt'))).validTo);
    assert.ok(conn.at < oldNotAfter, 'before the old certificate expired');
    assert.equal(stack.cloud.sockets().length, 1);

    // Written to the data dir (ORCH_MTLS_DIR is read-only in the container), a new key; no .prev once connected.
    const dir = path.join(stack.dataDir, 'mtls');
    assert.equal(serialOf(path.join(dir, 'client.crt')), renewal.serial);
    assert.notDeepEqual(fs.readFileSync(path.join(dir, 'client.key')), oldKey);
    assert.equal(fs.statSync(path.join(dir, 'client.key')).mode & 0o777, 0o600);
    await waitFor('.prev dropped', () => !fs.existsSync(path.join(dir, 'client.crt.prev')), 5000);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['client.crt', 'client.key']);

    const now = await runtime();
    assert.equal(now.Id, before.Id);
    assert.equal(now.State.StartedAt, before.State.StartedAt);
    assert.equal(now.State.Running, true);
    const s = await stack.cloud.call('get_device_status', { correlation_id: 's', device_id: 'plc-renew' });
    assert.equal(s.status, 'success');
  });

  test('a restarted agent takes the renewed pair from the data dir over ORCH_MTLS_DIR', async () => {
    const renewed = stub.enrollments[0]!.serial;
    await agent.stop();
    const n = stack.cloud.connections.length;
    agent = new AgentProcess(stack.env, stack.dataDir);
    agent.start();
    await agent.ready();
    const conn = await waitFor('reconnected', () => stack.cloud.connections[n], 20_000, 100);
    assert.equal(conn.serial, renewed);
    assert.equal(stub.enrollments.length, 1, 'the renewed certificate is not due yet');
  });

  test('enrollment server down: retries with backoff, the link stays up on the old certificate until it expires; expired, doctor says so and the runtime runs on', async () => {
    await agent.stop();
    fs.rmSync(path.join(stack.dataDir, 'mtls'), { recursive: true, force: true });
    const lifetime = 30;
    const env = { ...stack.env, ORCH_MTLS_DIR: agentMtlsDir(stack.pki, AGENT_ID, 'ca', lifetime), ORCH_ENROLL_URL: `https://127.0.0.1:${await freePort()}` };
    const notAfter = Date.parse(new crypto.X509Certificate(fs.readFileSync(path.join(env.ORCH_MTLS_DIR, 'client.crt'))).validTo);
    const before = await runtime();
    const n = stack.cloud.connections.length;
    agent = new AgentProcess(env, stack.dataDir);
    agent.start();
    await agent.ready();
    await waitFor('connected', () => stack.cloud.connections[n], 20_000, 100);

    await waitFor('expired', () => Date.now() > notAfter + 2000, (lifetime + 5) * 1000, 250);
    const failures = logLines(agent).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('certificate renewal failed'));
    assert.ok(failures.length >= 3, `retried: ${failures.length} failure(s)`);
    assert.match(String(failures[0]!.msg), /ECONNREFUSED/);
    const delays = failures.map((l) => l.retryInMs as number);
    assert.ok(delays[2]! > delays[0]!, `backoff grows: ${delays.join(', ')}`);
    // Still on the first connection of this agent: the link never dropped for the failed renewals.
    assert.equal(stack.cloud.connections.length, n + 1);
    assert.equal(stack.cloud.sockets().length, 1);

    const { stdout } = await runCli(['doctor', '--json'], { ...env, ORCH_DATA_DIR: stack.dataDir });
    const checks = Object.fromEntries((JSON.parse(stdout) as { checks: Check[] }).checks.map((c) => [c.what, c]));
    assert.equal(checks.certificate?.level, 'FAIL');
    assert.match(checks.certificate.detail, /EXPIRED at/);
    assert.match(checks.certificate.hint!, /expired: the cloud refuses the agent \(runtimes keep running\)/);
    assert.equal(checks['certificate renewal']?.level, 'FAIL');
    assert.match(checks['certificate renewal'].detail, /failing \(\d+ attempt\(s\)\); .*ECONNREFUSED.*next attempt 20/);

    const now = await runtime();
    assert.equal(now.Id, before.Id);
    assert.equal(now.State.StartedAt, before.State.StartedAt);
    assert.equal(now.State.Running, true);
  });
});
