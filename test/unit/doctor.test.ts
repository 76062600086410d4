// `doctor`: each check OK / WARN / FAIL, a hint for every WARN and FAIL; a misconfigured box gets a FAIL
// for each thing that is missing, and the running agent's view of its links is reported.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { doctor, renderChecks, type Check } from '../../src/cli/doctor.js';
import { loadConfig } from '../../src/config.js';
import type { LinkStatus } from '../../src/sources/control/protocol.js';

const root = path.resolve(import.meta.dirname, '../..');

test('doctor names a newer state file as such (never "corrupt", never "would start from .bak")', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-doctor-'));
  try {
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ schemaVersion: 7, agent: {}, runtimes: {}, host: {} }));
    const checks = await doctor(loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }));
    const line = checks.find((c) => c.what === 'state file');
    assert.ok(line, JSON.stringify(checks));
    assert.equal(line.level, 'FAIL');
    assert.match(line.detail, /state\.json has schema 7; this agent understands up to 1: the agent refuses every request/);
    assert.doesNotMatch(line.detail, /bak/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-doctor-'));
  dirs.push(d);
  return d;
};
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const byWhat = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.what, c]));

test('a misconfigured box (no engine, no certificate, no netmon, no agent, a full data disk): a FAIL with a usable hint for each, exit 1', async (t) => {
  const dir = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
  t.after(() => execFileSync('umount', ['-l', dir]));
  const env = { ORCH_CLOUD_URL: 'https://127.0.0.1:9', ORCH_MTLS_DIR: path.join(dir, 'no-mtls'), ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
  const checks = await doctor(loadConfig(env));
  const c = byWhat(checks);
  assert.equal(c.docker?.level, 'FAIL');
  assert.match(c.docker.detail, /nonexistent\/docker\.sock: .*ENOENT/);
  assert.match(c.docker.hint!, /engine is not running or DOCKER_HOST is wrong/);
  assert.equal(c.certificate?.level, 'FAIL');
  assert.match(c.certificate.detail, /no-mtls\/client\.crt \(missing\)/);
  assert.match(c.certificate.hint!, /client\.crt and client\.key in ORCH_MTLS_DIR .*no-mtls.*ORCH_CLOUD_URL=off/);
  assert.equal(c.netmon?.level, 'FAIL');
  assert.match(c.netmon.hint!, /docker start autonomy_netmon/);
  assert.equal(c.agent?.level, 'FAIL');
  assert.match(c.agent.detail, /^not running \(no .*agent\.sock\)$/);
  assert.match(c.agent.hint!, /docker start orchestrator_agent/);
  assert.equal(c.disk?.level, 'FAIL');
  assert.match(c.disk.detail, /^0\.\d MiB free of 0\.\d MiB on the data dir's file system$/);
  assert.match(c.disk.hint!, /free space/);
  assert.equal(c.cloud?.level, 'WARN'); // unknown without the agent
  for (const x of checks) if (x.level !== 'OK') assert.ok(x.hint, `${x.what} has a hint`);

  const text = renderChecks(checks);
  assert.match(text, /^FAIL {2}docker +unix:\/\/\/nonexistent\/docker\.sock: /m);
  assert.match(text, /^ +hint: the engine is not running/m);
  // The CLI: the same table, exit 1; --json for scripts.
  const cli = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(root, 'src/main.ts'), 'doctor', '--json'], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(cli.status, 1, cli.stderr);
  const json = JSON.parse(cli.stdout) as { checks: Check[] };
  assert.deepEqual(json.checks.filter((x) => x.level === 'FAIL').map((x) => x.what).sort(), ['agent', 'certificate', 'cloud tcp', 'disk', 'docker', 'netmon']); // nothing listens on 127.0.0.1:9
});

/** A stand-in agent answering `health` with its links, as the real one does. */
async function agentAnswering(dir: string, links: LinkStatus) {
  const server = net.createServer((s) => {
    s.once('data', () => s.end(`${JSON.stringify({ success: true, healthy: true, problems: [], lastPassAt: null, agent: { id: 'box-1', version: '9.9.9', uptime: 42 }, links })}\n`));
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'agent.sock'), resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

test('the running agent\'s view: netmon\'s last report, the cloud connected since when or its last error, a certificate near expiry', async () => {
  const dir = tmp();
  const mtls = path.join(dir, 'mtls');
  fs.mkdirSync(mtls);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client.key', '-out', 'client.crt', '-days', '10', '-subj', '/CN=box-1'], { cwd: mtls, stdio: 'ignore' });
  const now = Date.now();
  const env = { ORCH_CLOUD_URL: 'https://127.0.0.1:9', ORCH_MTLS_DIR: mtls, ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
  const netmon = { socket: path.join(dir, 'netmon.sock'), connected: true, connectedSince: new Date(now - 60_000).toISOString(), lastReportAt: new Date(now - 5000).toISOString(), eventsSeen: 7 };
  const down = { url: 'https://127.0.0.1:9', connected: false, connectedSince: null, lastError: 'cannot connect to the cloud: websocket error (connect ECONNREFUSED 127.0.0.1:9)', lastErrorAt: new Date(now - 3000).toISOString() };
  let close = await agentAnswering(dir, { cloud: down, netmon });
  try {
    const c = byWhat(await doctor(loadConfig(env), now));
    assert.deepEqual([c.agent?.level, c.agent?.detail], ['OK', 'running: box-1, version 9.9.9, up 42 s']);
    assert.equal(c.netmon?.level, 'OK');
    assert.match(c.netmon.detail, /^connected since \S+; last report 5 s ago \(7 event\(s\)\)$/);
    assert.equal(c.certificate?.level, 'WARN');
    assert.match(c.certificate.detail, /^agent id box-1; valid until .* \((9|10) days\)$/);
    assert.match(c.certificate.hint!, /expires soon/);
    assert.equal(c.cloud?.level, 'FAIL');
    assert.match(c.cloud.detail, /not connected; cannot connect to the cloud: .*ECONNREFUSED.* \(3 s ago\)/);
    assert.match(c.cloud.hint!, /firewall/);
  } finally {
    await close();
  }
  const since = new Date(now - 3_600_000).toISOString();
  close = await agentAnswering(dir, { cloud: { ...down, connected: true, connectedSince: since }, netmon: { ...netmon, connected: false } });
  try {
    const c = byWhat(await doctor(loadConfig(env), now));
    assert.deepEqual([c.cloud?.level, c.cloud?.detail], ['OK', `https://127.0.0.1:9: connected since ${since}`]);
    assert.equal(c.netmon?.level, 'FAIL');
    assert.match(c.netmon.detail, /the agent is not connected to .*netmon\.sock \(last report 5 s ago\)/);
  } finally {
    await close();
  }
});
