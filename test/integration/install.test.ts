// install/install.sh end to end, against a local HTTPS enrollment stub (an openssl CA) and the private
// engine (through DOCKER_HOST, never the machine's default socket) with the locally built images:
// enrollment (id, key, CSR with CN = id and clientAuth, certificate checked), the volume, the sidecar and
// the agent as CONTRACT §1 runs them; the agent, with the enrolled certificate, reaches a test cloud
// (mTLS, same CA) and answers get_host_interfaces from the sidecar's facts. Re-running keeps the
// identity; refusals and a missing Docker are clear errors that start nothing; --uninstall.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import { buildImages, enginePrivileged, NETMON_UNPRIVILEGED, type BuiltImages } from '../support/agent-image.js';
import { EnrollmentStub } from '../support/enrollment-stub.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { makePki, TestCloud, type Pki } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';
import { execIn as execInContainer } from '../support/exec-in.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(ROOT, 'install/install.sh');
const DEFAULT_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];
/** Whether --netmon-privileged can work here: docker 20.10 on these machines cannot grant --privileged (dockerd lacks CAP_SYS_RESOURCE). */
let PRIVILEGED = false;
const hostIface = (JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'default'], { encoding: 'utf8' })) as { dev: string }[])[0]?.dev;

let engine: Engine;
let images: BuiltImages;
let pki: Pki;
let stub: EnrollmentStub;
let cloud: TestCloud;
let tmp: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script asynchronously (the stub answers from this process), with a clean environment. */
function install(args: string[], opts: { env?: Record<string, string>; mtls?: string; cmd?: string[] } = {}): Promise<Run> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: path.join(tmp, 'home'),
    DOCKER_HOST: engine.dockerHost,
    DOCKER_CONFIG: path.join(tmp, 'docker-config'),
    ORCH_MTLS_DIR: opts.mtls ?? path.join(tmp, 'mtls'),
    ...opts.env,
  };
  const host = env.DOCKER_HOST!.replace(/^unix:\/\//, '');
  assert.ok(!DEFAULT_SOCKETS.includes(path.resolve(host)), 'the install test must never use the default Docker socket');
  const [cmd, ...pre] = opts.cmd ?? ['bash'];
  const child = spawn(cmd!, [...pre, SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const standardArgs = () => [
  '--server', stub.url,
  '--ca-file', stub.caFile,
  '--agent-image', images.agent,
  '--netmon-image', images.netmon,
  '--network', 'host',
  '--serial-majors', '188,166',
  '--netmon-env', 'ORCH_NETMON_DEBOUNCE_MS=200',
];
const standardEnv = () => ({ ORCH_CLOUD_URL: `https://127.0.0.1:${cloud.port}`, ORCH_NETMON_WIFI_INTERFACES: 'wlan-test0' });

async function nothingInstalled(): Promise<void> {
  assert.deepEqual((await engine.docker.listContainers({ all: true })).map((c) => c.Names), []);
  assert.deepEqual(((await engine.docker.listVolumes()).Volumes ?? []).map((v) => v.Name), []);
}

const execIn = (c: Docker.Container, cmd: string[]) => execInContainer(engine.docker, c, cmd);

before(async () => {
  assert.ok(hostIface, 'this machine has no default route: nothing for the sidecar to report');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-install-'));
  fs.mkdirSync(path.join(tmp, 'home'));
  engine = await startPrivateEngine();
  images = await buildImages(engine.docker);
  PRIVILEGED = await enginePrivileged(engine.docker, images.base);
  pki = makePki();
  stub = new EnrollmentStub(pki);
  await stub.start();
  cloud = new TestCloud(pki);
  await cloud.start();
});

after(async () => {
  if (engine) await engine.stop();
  await stub?.stop();
  await cloud?.stop();
  pki?.remove();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('shellcheck finds nothing in install.sh', () => {
  execFileSync('shellcheck', [SCRIPT], { stdio: 'pipe' });
});

test('not root: a clear error, nothing done', async () => {
  const r = await install(standardArgs(), { cmd: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'bash'] });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /install: error: run as root/);
  assert.equal(stub.ids.length, 0);
  await nothingInstalled();
});

test('--container-log: an unbounded json-file or a malformed value is refused before anything is done', async () => {
  for (const [value, why] of [['json-file', /json-file needs max-size/], ['json-file:max-size', /expected daemon or DRIVER/]] as const) {
    const r = await install([...standardArgs(), '--container-log', value], { env: standardEnv() });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, why);
  }
  assert.equal(stub.ids.length, 0);
  await nothingInstalled();
});

test('no docker CLI, or no engine behind DOCKER_HOST: clear errors, nothing done', async () => {
  const noCli = await install(standardArgs(), { cmd: ['/bin/bash'], env: { PATH: path.join(tmp, 'empty-path') } });
  assert.equal(noCli.code, 4, noCli.stderr);
  assert.match(noCli.stderr, /install: error: the docker CLI is not installed/);
  const gone = `unix://${path.join(tmp, 'no-such-docker.sock')}`;
  const noEngine = await install(standardArgs(), { env: { DOCKER_HOST: gone } });
  assert.equal(noEngine.code, 4, noEngine.stderr);
  assert.match(noEngine.stderr, new RegExp(`install: error: cannot reach the Docker engine at ${gone.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(stub.ids.length, 0);
  await nothingInstalled();
});

test('enrollment refused (403): a clear error with the server\'s message, no key or certificate kept, no container started', async () => {
  stub.mode = 'refuse';
  const mtls = path.join(tmp, 'mtls-refused');
  const r = await install(standardArgs(), { mtls, env: standardEnv() });
  stub.mode = 'ok';
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /install: error: enrollment refused by https:\/\/127\.0\.0\.1:\d+ \(HTTP 403, statusCode 403\): enrollment refused: this device is not registered/);
  assert.ok(!fs.existsSync(path.join(mtls, 'client.key')) && !fs.existsSync(path.join(mtls, 'client.crt')));
  assert.equal(stub.enrollments.length, 0);
  await nothingInstalled();
});

test('a certificate that is not a client certificate is refused; nothing kept, no container started', async () => {
  stub.mode = 'server-cert';
  const mtls = path.join(tmp, 'mtls-servercert');
  const r = await install(standardArgs(), { mtls, env: standardEnv() });
  stub.mode = 'ok';
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stderr, /install: error: the enrollment server's certificate is refused: .* is not a client certificate/);
  assert.ok(!fs.existsSync(path.join(mtls, 'client.crt')));
  await nothingInstalled();
  stub.enrollments.length = 0;
});

let enrolledId = '';
let firstCert = '';

test('install: enrolls (CN = id, clientAuth), creates the volume, runs the sidecar and the agent as the contract says; the agent reaches the cloud with that identity', async () => {
  const mtls = path.join(tmp, 'mtls');
  const r = await install(standardArgs(), { env: standardEnv() });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);

  // Enrollment: one id, one CSR as the Python agent's installer makes it, a client certificate saved.
  assert.equal(stub.enrollments.length, 1);
  const e = stub.enrollments[0]!;
  enrolledId = e.id;
  assert.equal(stub.ids.at(-1), e.id);
  assert.match(e.subject, new RegExp(`^CN=${e.id},OU=Production,O=AutonomyLogic,L=SaoPaulo,ST=SP,C=BR$`));
  assert.match(e.csrExtensions, /TLS Web Client Authentication/);
  firstCert = fs.readFileSync(path.join(mtls, 'client.crt'), 'utf8');
  const cert = new crypto.X509Certificate(firstCert);
  assert.match(cert.subject, new RegExp(`^CN=${e.id}$`, 'm'));
  assert.equal(cert.serialNumber, e.serial);
  assert.ok(cert.verify(new crypto.X509Certificate(fs.readFileSync(stub.caFile)).publicKey));
  assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(path.join(mtls, 'client.key')))));
  assert.match(execFileSync('openssl', ['x509', '-in', path.join(mtls, 'client.crt'), '-noout', '-purpose'], { encoding: 'utf8' }), /^SSL client : Yes$/m);
  assert.equal(fs.statSync(path.join(mtls, 'client.key')).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(mtls, 'client.crt')).mode & 0o777, 0o644);
  assert.equal(fs.readFileSync(path.join(mtls, 'ca.crt'), 'utf8'), fs.readFileSync(stub.caFile, 'utf8'));
  assert.match(r.stdout, new RegExp(`enrolled as ${e.id}`));

  // Docker objects with the contract's names, labels, mounts and flags.
  const volume = await engine.docker.getVolume('orchestrator-shared').inspect();
  assert.equal(volume.Labels?.['edge.autonomy.managed'], 'true');
  const netmon = await engine.docker.getContainer('autonomy_netmon').inspect();
  assert.equal(netmon.State.Running, true);
  assert.deepEqual(netmon.Config.Cmd, ['netmon']);
  assert.equal(netmon.Config.Image, images.netmon);
  assert.equal(netmon.Config.Labels['edge.autonomy.role'], 'netmon');
  assert.equal(netmon.Config.Labels['edge.autonomy.managed'], 'true');
  // The default is the narrow set, not --privileged (issue #22).
  assert.deepEqual([netmon.HostConfig.NetworkMode, netmon.HostConfig.PidMode, netmon.HostConfig.Privileged], ['host', 'host', false]);
  assert.deepEqual(((netmon.HostConfig.CapAdd as string[] | undefined) ?? []).map((c) => c.replace(/^CAP_/, '')).sort(), [...NETMON_UNPRIVILEGED.CapAdd].sort());
  assert.deepEqual(netmon.HostConfig.DeviceCgroupRules, NETMON_UNPRIVILEGED.DeviceCgroupRules);
  for (const opt of NETMON_UNPRIVILEGED.SecurityOpt) assert.ok(((netmon.HostConfig.SecurityOpt as string[] | undefined) ?? []).includes(opt), opt);
  const paths = netmon.HostConfig as { MaskedPaths?: string[]; ReadonlyPaths?: string[] };
  assert.deepEqual([paths.MaskedPaths, paths.ReadonlyPaths], [[], []]);
  assert.equal(netmon.HostConfig.RestartPolicy?.Name, 'unless-stopped');
  const netmonBinds = [...(netmon.HostConfig.Binds ?? [])].sort();
  assert.deepEqual(netmonBinds, ['/dev:/dev', 'orchestrator-shared:/var/orchestrator', ...(fs.existsSync('/run/udev') ? ['/run/udev:/run/udev:ro'] : [])].sort());
  assert.ok(netmon.Config.Env.includes('ORCH_NETMON_WIFI_INTERFACES=wlan-test0'));
  assert.ok(netmon.Config.Env.includes('ORCH_NETMON_DEBOUNCE_MS=200'));

  const agentC = engine.docker.getContainer('orchestrator_agent');
  const agent = await agentC.inspect();
  assert.equal(agent.State.Running, true);
  assert.deepEqual(agent.Config.Cmd, ['run']);
  assert.equal(agent.Config.Image, images.agent);
  assert.equal(agent.Config.Labels['edge.autonomy.role'], 'orchestrator-agent');
  assert.equal(agent.Config.Labels['edge.autonomy.managed'], 'true');
  assert.equal(agent.HostConfig.NetworkMode, 'host');
  assert.equal(agent.HostConfig.Privileged, false);
  // Issue #22: the agent drops every capability; both run with no-new-privileges.
  assert.deepEqual(agent.HostConfig.CapDrop, ['ALL']);
  assert.ok(((agent.HostConfig.SecurityOpt as string[] | undefined) ?? []).includes('no-new-privileges'));
  assert.ok(((netmon.HostConfig.SecurityOpt as string[] | undefined) ?? []).includes('no-new-privileges'));
  assert.equal(agent.HostConfig.RestartPolicy?.Name, 'unless-stopped');
  assert.deepEqual([...(agent.HostConfig.Binds ?? [])].sort(), [`${engine.socketPath}:/var/run/docker.sock`, `${mtls}:/root/.mtls:ro`, 'orchestrator-shared:/var/orchestrator'].sort());
  for (const v of [`ORCH_CLOUD_URL=https://127.0.0.1:${cloud.port}`, 'ORCH_SERIAL_MAJORS=188,166', 'ORCH_MTLS_DIR=/root/.mtls', `ORCH_ENROLL_URL=${stub.url}`]) assert.ok(agent.Config.Env.includes(v), v);
  // Bounded logs (issue #23): both containers, and the agent passes the same setting on to its runtimes.
  for (const c of [netmon, agent]) assert.deepEqual(c.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } }, c.Name);
  assert.ok(agent.Config.Env.includes('ORCH_CONTAINER_LOG=json-file:max-size=10m,max-file=3'));

  // The agent answers health in its container, and reaches the cloud as the enrolled id.
  await waitFor('agent healthy', async () => {
    const h = await execIn(agentC, ['node', 'dist/main.js', 'health']);
    return h.code === 0 && h.out.includes('healthy');
  }, 30_000, 500);
  await waitFor('agent connected to the cloud', () => cloud.connections.find((c) => c.agentId === e.id), 30_000, 200);
  assert.deepEqual(cloud.tlsErrors, []);
  // ... and answers with the host's interfaces, which it has from the sidecar in its container.
  const hi = await waitFor('host interfaces', async () => {
    const a = await cloud.call('get_host_interfaces', { correlation_id: 1 });
    return a.status === 'success' ? a : null;
  }, 30_000, 500);
  assert.ok((hi.interfaces as { name: string }[]).some((i) => i.name === hostIface), JSON.stringify(hi));
});

test('running it again keeps the identity: no new enrollment, same certificate, containers re-created', async () => {
  assert.ok(enrolledId, 'needs the install test');
  const before = await Promise.all(['autonomy_netmon', 'orchestrator_agent'].map(async (n) => (await engine.docker.getContainer(n).inspect()).Id));
  const ids = stub.ids.length;
  const connections = cloud.connections.length;
  const r = await install(standardArgs(), { env: standardEnv() });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`already enrolled as ${enrolledId}`));
  assert.equal(stub.ids.length, ids);
  assert.equal(stub.enrollments.length, 1);
  assert.equal(fs.readFileSync(path.join(tmp, 'mtls', 'client.crt'), 'utf8'), firstCert);
  const now = await Promise.all(['autonomy_netmon', 'orchestrator_agent'].map((n) => engine.docker.getContainer(n).inspect()));
  assert.ok(now.every((c, i) => c.State.Running && c.Id !== before[i]));
  const again = await waitFor('agent reconnected', () => cloud.connections.slice(connections).find((c) => c.agentId === enrolledId), 30_000, 200);
  assert.equal(again.agentId, enrolledId);
});

test('--uninstall removes the containers and the volume and keeps the certificate', async () => {
  const r = await install(['--uninstall']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  await nothingInstalled();
  assert.equal(fs.readFileSync(path.join(tmp, 'mtls', 'client.crt'), 'utf8'), firstCert);
  assert.ok(fs.existsSync(path.join(tmp, 'mtls', 'client.key')));
  assert.match(r.stdout, /kept the device certificate/);
});

test('--netmon-privileged runs the sidecar --privileged; an engine that cannot grant it gets a clear error, and no agent', async () => {
  const r = await install([...standardArgs(), '--netmon-privileged'], { env: standardEnv() });
  if (PRIVILEGED) {
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal((await engine.docker.getContainer('autonomy_netmon').inspect()).HostConfig.Privileged, true);
    assert.equal((await install(['--uninstall'])).code, 0);
  } else {
    assert.equal(r.code, 7, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /could not start autonomy_netmon: this engine cannot grant --privileged .*without --netmon-privileged/);
    assert.match(r.stdout, new RegExp(`already enrolled as ${enrolledId}`));
    assert.equal((await engine.docker.listContainers({ all: true })).length, 0, 'neither the half-made sidecar nor the agent is left');
    assert.equal((await install(['--uninstall'])).code, 0);
  }
  await nothingInstalled();
});

test('--uninstall --purge also removes the certificate', async () => {
  const purge = await install(['--uninstall', '--purge']);
  assert.equal(purge.code, 0, `${purge.stdout}\n${purge.stderr}`);
  assert.deepEqual(fs.readdirSync(path.join(tmp, 'mtls')), []);
});
