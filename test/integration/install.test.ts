// install/install.sh end to end, against a local HTTPS enrollment stub (an openssl CA) and the private
// engine (through DOCKER_HOST, never the machine's default socket) with the locally built images:
// enrollment (id, key, CSR with CN = id and clientAuth, certificate checked), the volume, the sidecar and
// the agent as CONTRACT §1 runs them; the agent, with the enrolled certificate, reaches a test cloud
// (mTLS, same CA) and answers get_host_interfaces from the sidecar's facts. Re-running keeps the
// identity; refusals and a missing Docker are clear errors that start nothing; the pull policy and pins
// (against a registry address on loopback where nothing listens); putting the old pair back when the new
// one does not stay up; --cloud-url off; --uninstall (netmon undoes a real proxy-ARP path first), --purge.
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
  // The test images are local only (no registry here): the pull policy has tests of its own.
  '--pull', 'never',
];
/** standardArgs() with other images and without `--pull never`. */
const argsFor = (agent: string, netmon: string, ...extra: string[]) => {
  const a = standardArgs().slice(0, -2);
  a[a.indexOf('--agent-image') + 1] = agent;
  a[a.indexOf('--netmon-image') + 1] = netmon;
  return [...a, ...extra];
};
/** The ids of the installed pair (netmon, agent), checked to be running. */
async function runningPair(): Promise<string[]> {
  const pair = await Promise.all(['autonomy_netmon', 'orchestrator_agent'].map((n) => engine.docker.getContainer(n).inspect()));
  for (const c of pair) assert.equal(c.State.Running, true, c.Name);
  return pair.map((c) => c.Id);
}
const containerNames = async () => (await engine.docker.listContainers({ all: true })).flatMap((c) => c.Names).sort();
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
  assert.match(noCli.stderr, /install: error: the docker CLI is not installed\. Install Docker first: on Debian or Ubuntu `apt-get install docker\.io`/);
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
  assert.deepEqual(netmon.HostConfig.CapDrop, NETMON_UNPRIVILEGED.CapDrop);
  assert.deepEqual(netmon.HostConfig.DeviceCgroupRules, NETMON_UNPRIVILEGED.DeviceCgroupRules);
  for (const opt of NETMON_UNPRIVILEGED.SecurityOpt) assert.ok(((netmon.HostConfig.SecurityOpt as string[] | undefined) ?? []).includes(opt), opt);
  const paths = netmon.HostConfig as { MaskedPaths?: string[]; ReadonlyPaths?: string[] };
  assert.deepEqual([paths.MaskedPaths, paths.ReadonlyPaths], [[], []]);
  assert.equal(netmon.HostConfig.RestartPolicy?.Name, 'unless-stopped');
  const netmonBinds = [...(netmon.HostConfig.Binds ?? [])].sort();
  const optional = [...(fs.existsSync('/run/udev') ? ['/run/udev:/run/udev:ro'] : []), ...(fs.existsSync('/sys/fs/cgroup/devices') ? ['/sys/fs/cgroup/devices:/run/host-cgroup-devices'] : [])];
  assert.deepEqual(netmonBinds, ['/dev:/dev', 'orchestrator-shared:/var/orchestrator', ...optional].sort());
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

/** A registry on loopback where nothing listens: every pull fails at once, and nothing leaves the machine. */
const REG = '127.0.0.1:1/orch';
const tagAs = (image: string, repo: string, tag: string) => engine.docker.getImage(image).tag({ repo, tag });

test('pull policy: a moving tag is pulled, the local copy used when the registry cannot be reached; --pull always refuses that and leaves the running pair alone', async () => {
  for (const [img, name] of [[images.agent, 'agent'], [images.netmon, 'netmon']] as const) await tagAs(img, `${REG}/${name}`, 'latest');
  const r = await install(argsFor(`${REG}/agent:latest`, `${REG}/netmon:latest`), { env: standardEnv() });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (const name of ['agent', 'netmon']) {
    assert.match(r.stdout, new RegExp(`install: pulling 127\\.0\\.0\\.1:1/orch/${name}:latest\n`));
    assert.match(r.stdout, new RegExp(`install: warning: cannot pull 127\\.0\\.0\\.1:1/orch/${name}:latest, using the copy this engine has`));
  }
  assert.equal((await engine.docker.getContainer('orchestrator_agent').inspect()).Config.Image, `${REG}/agent:latest`);
  const before = await runningPair();
  const always = await install(argsFor(`${REG}/agent:latest`, `${REG}/netmon:latest`, '--pull', 'always'), { env: standardEnv() });
  assert.equal(always.code, 7, `${always.stdout}\n${always.stderr}`);
  assert.match(always.stderr, /install: error: cannot pull 127\.0\.0\.1:1\/orch\/agent:latest: /);
  assert.deepEqual(await runningPair(), before);
});

test('--version pins both images by tag (a registry port kept); a pin this engine has is not pulled', async () => {
  for (const [img, name] of [[images.agent, 'agent'], [images.netmon, 'netmon']] as const) await tagAs(img, `${REG}/${name}`, 'v1.2.3');
  const r = await install(argsFor(`${REG}/agent:latest`, `${REG}/netmon`, '--version', 'v1.2.3'), { env: standardEnv() });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /pulling/);
  assert.equal((await engine.docker.getContainer('orchestrator_agent').inspect()).Config.Image, `${REG}/agent:v1.2.3`);
  assert.equal((await engine.docker.getContainer('autonomy_netmon').inspect()).Config.Image, `${REG}/netmon:v1.2.3`);
});

test('a digest pin, or a --pull never image, that this engine does not have: a clear error before the running pair is touched; bad --pull or --version values are refused', async () => {
  const before = await runningPair();
  const digest = `${REG}/agent@sha256:${'0'.repeat(64)}`;
  const pinned = await install(argsFor(digest, `${REG}/netmon:latest`), { env: standardEnv() });
  assert.equal(pinned.code, 7, `${pinned.stdout}\n${pinned.stderr}`);
  assert.match(pinned.stdout, /install: pulling 127\.0\.0\.1:1\/orch\/agent@sha256:0{64}\n/);
  assert.match(pinned.stderr, /install: error: image 127\.0\.0\.1:1\/orch\/agent@sha256:0{64} is not on this engine and cannot be pulled/);
  const never = await install(argsFor(`${REG}/agent:absent`, `${REG}/netmon:latest`, '--pull', 'never'), { env: standardEnv() });
  assert.equal(never.code, 7, `${never.stdout}\n${never.stderr}`);
  assert.doesNotMatch(never.stdout, /pulling/);
  assert.match(never.stderr, /install: error: image 127\.0\.0\.1:1\/orch\/agent:absent is not on this engine \(--pull never\)/);
  for (const [args, why] of [[['--pull', 'sometimes'], /--pull 'sometimes': expected always, missing or never/], [['--version', 'a b'], /--version 'a b': not an image tag/]] as const) {
    const bad = await install([...standardArgs(), ...args], { env: standardEnv() });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, why);
  }
  assert.deepEqual(await runningPair(), before);
});

test('put back: a new agent that does not stay up is removed, and the previous pair runs again', async () => {
  const before = await runningPair();
  // An agent image whose entrypoint exits at once: --restart unless-stopped shows it restarting, or running
  // again with restarts (the state the script sees depends on the moment).
  const c = await engine.docker.createContainer({ Image: images.agent });
  await c.commit({ repo: 'orch-test/broken-agent', tag: 'latest', changes: 'ENTRYPOINT ["node", "-e", "process.exit(3)"]' } as object);
  await c.remove({ v: true });
  const r = await install(argsFor('orch-test/broken-agent:latest', images.netmon, '--pull', 'never'), { env: standardEnv() });
  assert.equal(r.code, 7, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /install: error: orchestrator_agent did not stay up \(status, restarts, exit code: (?!running 0 )[a-z]+ \d+ \d+\).*; the previous containers were put back/s);
  assert.deepEqual(await runningPair(), before);
  assert.deepEqual(await containerNames(), ['/autonomy_netmon', '/orchestrator_agent']);
});

/** One command to the installed netmon over its socket, from inside its container (as install.sh asks it). */
async function netmonCall(command: object): Promise<Record<string, unknown>> {
  const script = `const s = require('net').connect('/var/orchestrator/netmon.sock'); let b = '';
    s.on('connect', () => s.write(JSON.stringify(${JSON.stringify({ ...command, id: 'test' })}) + '\\n'));
    s.on('data', (d) => { b += d; for (const l of b.split('\\n')) { try { const m = JSON.parse(l); if (m.id === 'test') { console.log(JSON.stringify(m)); process.exit(0); } } catch {} } });`;
  const r = await execIn(engine.docker.getContainer('autonomy_netmon'), ['node', '-e', script]);
  assert.equal(r.code, 0, r.out);
  return JSON.parse(r.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

test('--uninstall: netmon first undoes a real proxy-ARP path (veth, /32 route, sysctls back); then the containers and the volume go, the certificate stays', async () => {
  // A "Wi-Fi parent" (a veth whose peer is in a LAN namespace, as proxy-arp.test.ts makes it) and a runtime
  // (a process in a network namespace of its own): netmon builds a path for it, as for a Wi-Fi vNIC.
  const id = crypto.randomBytes(3).toString('hex');
  const [parent, peer, ns] = [`twl${id}`, `twp${id}`, `orch-inst-${id}`];
  const sh = (...a: string[]) => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const rt = spawn('unshare', ['-n', 'sleep', '1000'], { stdio: 'ignore' });
  const own = fs.readlinkSync('/proc/self/ns/net');
  try {
    sh('netns', 'add', ns);
    sh('link', 'add', parent, 'type', 'veth', 'peer', 'name', peer);
    sh('link', 'set', peer, 'netns', ns);
    sh('netns', 'exec', ns, 'ip', 'addr', 'add', '203.0.113.254/24', 'dev', peer);
    sh('netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up');
    sh('addr', 'add', '203.0.113.1/24', 'dev', parent);
    sh('link', 'set', parent, 'up');
    await waitFor('the runtime namespace', () => { try { return fs.readlinkSync(`/proc/${rt.pid}/ns/net`) !== own; } catch { return false; } }, 5000, 20);
    const sysctls = ['/proc/sys/net/ipv4/ip_forward', `/proc/sys/net/ipv4/conf/${parent}/proxy_arp`];
    const earlier = sysctls.map((p) => fs.readFileSync(p, 'utf8').trim());
    const built = await netmonCall({ command: 'proxy_arp_setup', container_name: 'plc-wifi', vnic_name: 'eth1', pid: rt.pid, parent, ip: '203.0.113.50', prefix: 24, gateway: '203.0.113.254' });
    assert.equal(built.success, true, JSON.stringify(built));
    const veth = (built.path as { veth: string }).veth;
    assert.match(sh('-o', 'link', 'show', 'dev', veth), new RegExp(veth));
    assert.match(sh('-4', 'route', 'show', '203.0.113.50/32'), /203\.0\.113\.50/);
    assert.equal(fs.readFileSync(sysctls[1]!, 'utf8').trim(), '1');

    const r = await install(['--uninstall']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /install: netmon undid its proxy-ARP host changes: \{.*"success":true,"paths":1/);
    assert.match(r.stdout, /install: kept the device certificate/);
    assert.ok(!sh('-o', 'link', 'show').includes(`${veth}@`), 'the host veth is gone');
    assert.equal(sh('-4', 'route', 'show', '203.0.113.50/32').trim(), '');
    assert.deepEqual(sysctls.map((p) => fs.readFileSync(p, 'utf8').trim()), earlier);
  } finally {
    rt.kill('SIGKILL');
    execFileSync('sh', ['-c', `ip link del ${parent} 2>/dev/null; ip netns del ${ns} 2>/dev/null; true`]);
  }
  await nothingInstalled();
  assert.equal(fs.readFileSync(path.join(tmp, 'mtls', 'client.crt'), 'utf8'), firstCert);
  assert.ok(fs.existsSync(path.join(tmp, 'mtls', 'client.key')));
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

test('--cloud-url off (air-gapped): no enrollment server is called, no certificate needed; the agent runs standalone', async () => {
  const mtls = path.join(tmp, 'mtls-airgapped');
  const [ids, enrollments] = [stub.ids.length, stub.enrollments.length];
  // standardEnv's ORCH_CLOUD_URL comes first: the last value given wins, as in the agent.
  const r = await install([...standardArgs(), '--cloud-url', 'off'], { mtls, env: standardEnv() });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /install: cloud off \(air-gapped\): enrollment skipped; the agent runs standalone/);
  assert.deepEqual([stub.ids.length, stub.enrollments.length], [ids, enrollments]);
  assert.deepEqual(fs.readdirSync(mtls), ['ca.crt']);
  const agentC = engine.docker.getContainer('orchestrator_agent');
  const env = (await agentC.inspect()).Config.Env;
  assert.equal(env.filter((v) => v.startsWith('ORCH_CLOUD_URL=')).at(-1), 'ORCH_CLOUD_URL=off');
  assert.ok(env.includes('ORCH_ENROLL_URL='), 'no certificate renewal either');
  await waitFor('agent healthy', async () => {
    const h = await execIn(agentC, ['node', 'dist/main.js', 'health']);
    return h.code === 0 && h.out.includes('healthy');
  }, 30_000, 500);
  assert.equal((await install(['--uninstall'], { mtls })).code, 0);
  await nothingInstalled();
});

test('--uninstall --keep-data with netmon already down (killed, as a crash leaves it): netmon is started for its cleanup, both containers go, state.json stays; a re-install picks it up', async () => {
  const r0 = await install(standardArgs(), { env: standardEnv() });
  assert.equal(r0.code, 0, `${r0.stdout}\n${r0.stderr}`);
  const shared = (await engine.docker.getVolume('orchestrator-shared').inspect()).Mountpoint;
  const stateFile = path.join(shared, 'state.json');
  await waitFor('state.json in the volume', () => fs.existsSync(stateFile), 30_000, 200);
  const netmon = engine.docker.getContainer('autonomy_netmon');
  // SIGKILL: no shutdown of its own (its socket file stays behind, as after a crash); not restarted by the engine.
  await netmon.kill();
  await waitFor('netmon down', async () => !(await netmon.inspect()).State.Running, 10_000, 100);

  const r = await install(['--uninstall', '--keep-data']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /install: netmon undid its proxy-ARP host changes: \{.*"success":true/);
  assert.match(r.stdout, /install: removed container orchestrator_agent\n/);
  assert.match(r.stdout, /install: removed container autonomy_netmon\n/);
  assert.doesNotMatch(r.stdout, /removed volume/);
  assert.match(r.stdout, /install: kept the device certificate/);
  assert.deepEqual(await containerNames(), []);
  assert.deepEqual(((await engine.docker.listVolumes()).Volumes ?? []).map((v) => v.Name), ['orchestrator-shared']);
  // The kept state is whole; a marker in it (the schema keeps unknown keys) shows the next agent reads it.
  const kept = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { agent: Record<string, unknown>; host: { observedAt: string | null } };
  const marker = crypto.randomBytes(4).toString('hex');
  kept.agent.keptByTest = marker;
  fs.writeFileSync(stateFile, JSON.stringify(kept));

  const again = await install(standardArgs(), { env: standardEnv() });
  assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
  assert.match(again.stdout, new RegExp(`already enrolled as ${enrolledId}`));
  assert.doesNotMatch(again.stdout, /created volume/);
  // The new agent writes the host facts it gets from netmon into the state it loaded, marker and all.
  const after = await waitFor('the new agent wrote the kept state', () => {
    const s = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as typeof kept;
    return s.host.observedAt !== kept.host.observedAt ? s : null;
  }, 30_000, 200);
  assert.equal(after.agent.keptByTest, marker);
  assert.equal((await install(['--uninstall'])).code, 0);
  await nothingInstalled();
});

test('--uninstall keeps the runtimes running, unmanaged, and says so; --purge removes them, their data volumes, networks and the certificate', async () => {
  const managed = (role: string) => ({ 'edge.autonomy.managed': 'true', 'edge.autonomy.role': role });
  await engine.docker.createNetwork({ Name: 'plc1_internal', Driver: 'bridge', Internal: true, Labels: managed('internal-network') });
  await engine.docker.createVolume({ Name: 'plc1_data', Labels: managed('runtime-data') });
  const rt = await engine.docker.createContainer({ name: 'plc1', Image: images.base, Cmd: ['sleep', '1000'], Labels: managed('runtime'), HostConfig: { NetworkMode: 'plc1_internal', Binds: ['plc1_data:/data'] } });
  await rt.start();
  const keep = await install(['--uninstall']);
  assert.equal(keep.code, 0, `${keep.stdout}\n${keep.stderr}`);
  assert.match(keep.stdout, /install: 1 runtime container\(s\) keep running, unmanaged \(nothing restarts or updates them; --uninstall --purge removes them/);
  assert.equal((await rt.inspect()).State.Running, true);
  const purge = await install(['--uninstall', '--purge']);
  assert.equal(purge.code, 0, `${purge.stdout}\n${purge.stderr}`);
  assert.match(purge.stdout, /install: removed runtime container [0-9a-f]+/);
  assert.match(purge.stdout, /install: removed network [0-9a-f]+/);
  assert.match(purge.stdout, /install: removed volume plc1_data/);
  await nothingInstalled();
  assert.deepEqual((await engine.docker.listNetworks({ filters: { label: ['edge.autonomy.managed=true'] } })).map((n) => n.Name), []);
  assert.deepEqual(fs.readdirSync(path.join(tmp, 'mtls')), []);
});
