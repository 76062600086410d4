// The agent and its sidecar as they ship: both images built from the Dockerfiles (COPY-only, on a base
// imported from this machine's binaries), run on the private engine as CONTRACT §1 runs them:
// `autonomy_netmon` (host network and pid namespace, install.sh's default capabilities instead of
// --privileged (issue #22), /dev) serves its socket in the shared
// volume and reports this machine's interfaces (it only watches netlink: no traffic); `orchestrator_agent`
// (the engine's socket, the shared volume) answers `health`, takes the host facts from the sidecar, joins
// each runtime's internal network by itself (found by label) and reaches the runtime there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { buildImages, netmonHostConfig, type BuiltImages } from '../support/agent-image.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { createLan, type Lan } from '../support/lan.js';
import { NetmonClient } from '../support/netmon-process.js';
import { startPrivateEngine, type Engine } from '../support/private-engine.js';
import { waitFor } from '../support/wait.js';
import { execIn as execInContainer } from '../support/exec-in.js';

/** The runtime stand-in's repository (agent-fixture's TEST_IMAGE; not imported: this test loads nothing of src/). */
const TEST_IMAGE = 'orch-test/openplc-runtime';
let engine: Engine;
let lan: Lan;
let agentContainer: Docker.Container;
let netmonContainer: Docker.Container;
let images: BuiltImages;
const LABELS = (role: string) => ({ 'edge.autonomy.role': role, 'edge.autonomy.managed': 'true' });
/** The interface that carries this machine's default route: the sidecar must report it. */
const hostIface = (JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'default'], { encoding: 'utf8' })) as { dev: string }[])[0]?.dev;

const execIn = (c: Docker.Container, cmd: string[]) => execInContainer(engine.docker, c, cmd);

before(async () => {
  assert.ok(hostIface, 'this machine has no default route: nothing for the sidecar to report');
  engine = await startPrivateEngine();
  await buildRuntimeStandIn(engine.docker, TEST_IMAGE, 'latest');
  const t0 = Date.now();
  images = await buildImages(engine.docker);
  const buildSeconds = (Date.now() - t0) / 1000;
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const how = images.loadedSeconds === null ? `built in ${buildSeconds.toFixed(1)} s` : `loaded from the run's cache in ${images.loadedSeconds.toFixed(1)} s (test-image-cache.ts), built by an earlier suite`;
  process.stdout.write(`# images ${how} (base import ${images.seconds.base} s, context ${images.seconds.context} s, docker build ${images.seconds.build} s); sizes: base ${mb(images.sizes.base)}, agent ${mb(images.sizes.agent)}, netmon ${mb(images.sizes.netmon)}\n`);
  lan = createLan('198.51.100.0/26');
  await engine.docker.createVolume({ Name: 'orchestrator-shared', Labels: LABELS('shared-volume') });
  netmonContainer = await engine.docker.createContainer({
    name: 'autonomy_netmon',
    Image: images.netmon,
    Labels: LABELS('netmon'),
    Env: ['ORCH_NETMON_DEBOUNCE_MS=200'],
    HostConfig: netmonHostConfig(),
  });
  await netmonContainer.start();
  await engine.docker.createNetwork({ Name: 'agent_net', Driver: 'bridge', Internal: true });
  agentContainer = await engine.docker.createContainer({
    name: 'orchestrator_agent',
    Image: images.agent,
    Labels: LABELS('orchestrator-agent'),
    Env: ['ORCH_CLOUD_URL=off', `ORCH_RUNTIME_IMAGE=${TEST_IMAGE}`, 'ORCH_RESYNC_INTERVAL_MS=2000', 'ORCH_NETMON_BOOT_WAIT_MS=1000'],
    // As install.sh runs it (issue #22): no capability, no-new-privileges.
    HostConfig: { NetworkMode: 'agent_net', CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], Binds: [`${engine.socketPath}:/var/run/docker.sock`, 'orchestrator-shared:/var/orchestrator'] },
  });
  await agentContainer.start();
});

after(async () => {
  lan?.remove();
  if (engine) await engine.stop();
});

test('the sidecar image serves its socket in the shared volume and reports this machine\'s interfaces; its HEALTHCHECK passes', async () => {
  const volume = (await engine.docker.getVolume('orchestrator-shared').inspect()).Mountpoint;
  const sock = path.join(volume, 'netmon.sock');
  await waitFor('netmon.sock', async () => {
    const c = await netmonContainer.inspect();
    if (!c.State.Running) throw new Error(`autonomy_netmon exited ${c.State.ExitCode}: ${(await netmonContainer.logs({ stdout: true, stderr: true })).toString().slice(-1500)}`);
    return fs.existsSync(sock) ? true : null;
  }, 20_000, 200);
  assert.equal((fs.statSync(sock).mode & 0o777).toString(8), '660');
  const client = await NetmonClient.connect(sock);
  try {
    const discovery = await waitFor('network_discovery', () => client.events('network_discovery')[0]?.msg, 10_000);
    const ifaces = discovery.interfaces as { interface: string; mac_address: string; ipv4_addresses: { address: string }[] }[];
    const mine = ifaces.find((i) => i.interface === hostIface);
    assert.ok(mine, `${hostIface} missing from ${JSON.stringify(ifaces.map((i) => i.interface))}`);
    const hostAddr = (JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', hostIface!], { encoding: 'utf8' })) as { address: string; addr_info: { family: string; local: string }[] }[])[0]!;
    assert.equal(mine.mac_address, hostAddr.address);
    assert.deepEqual(mine.ipv4_addresses.map((a) => a.address), hostAddr.addr_info.filter((a) => a.family === 'inet').map((a) => a.local));
    assert.ok(!ifaces.some((i) => i.interface === 'lo'));
    const status = await client.ask({ command: 'get_status', id: 'img-1' });
    assert.equal(status.id, 'img-1');
    const unknown = await client.ask({ command: 'no_such_command', id: 'img-2' });
    assert.equal(unknown.success, false);
  } finally {
    client.close();
  }
  const hc = (await netmonContainer.inspect()).Config.Healthcheck?.Test ?? [];
  assert.equal(hc[0], 'CMD');
  assert.equal((await execIn(netmonContainer, hc.slice(1))).code, 0);
  const inspected = await netmonContainer.inspect();
  assert.deepEqual([inspected.HostConfig.NetworkMode, inspected.HostConfig.PidMode, inspected.HostConfig.Privileged], ['host', 'host', false]);
  // The tools of the contract are there, the real ones (busybox's ip has no -j).
  assert.equal((await execIn(netmonContainer, ['ip', '-j', 'link', 'show', 'lo'])).out.trim().startsWith('[{'), true);
  assert.match((await execIn(netmonContainer, ['udhcpc', '--help'])).out, /udhcpc/);
});

test('both containers run node with the light settings (bin/orchestrator-agent, src/light-settings.ts) as their PID 1', async () => {
  for (const c of [agentContainer, netmonContainer]) {
    const pid = await waitFor('container running', async () => (await c.inspect()).State.Pid || null, 20_000, 200);
    const read = (f: string) => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8').split('\0');
    const cmdline = await waitFor('node as PID 1', () => (read('cmdline')[0] === 'node' ? read('cmdline') : null), 20_000, 200);
    // The base is this machine's node (20 here): the full set; on 22/24 main.js re-executes with its own set.
    for (const f of ['--v8-pool-size=1', '--max-semi-space-size=1', '--jitless']) assert.ok(cmdline.includes(f), `${f} missing from ${cmdline.join(' ')}`);
    assert.ok(read('environ').includes('MALLOC_ARENA_MAX=2'));
  }
});

test('the agent in its container takes the host facts from the sidecar in its container', async () => {
  await waitFor('agent up', async () => (await execIn(agentContainer, ['node', 'dist/main.js', 'health'])).out.includes('healthy'), 30_000, 500);
  const host = await waitFor('host facts', async () => {
    const st = JSON.parse((await execIn(agentContainer, ['node', 'dist/main.js', 'state', '--json'])).out) as { state: { host: { observedAt: string | null; interfaces: { interface: string }[] } } };
    return st.state.host.observedAt !== null && st.state.host.interfaces.length > 0 ? st.state.host : null;
  }, 20_000, 500);
  assert.ok(host.interfaces.some((i) => i.interface === hostIface), JSON.stringify(host.interfaces.map((i) => i.interface)));
  // The bundle carries its commit (scripts/build.mjs); no VERSION build arg here: package.json's version.
  const pkgVersion = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  assert.match((await execIn(agentContainer, ['node', 'dist/main.js', 'version'])).out, new RegExp(`^orchestrator-agent ${pkgVersion.replace(/\./g, '\\.')} \\(commit [0-9a-f]{12}(-dirty)?\\)\n$`));
  const doctor = await execIn(agentContainer, ['node', 'dist/main.js', 'doctor']);
  assert.match(doctor.out, /OK\s+netmon/);
  assert.match(doctor.out, /OK\s+docker/);
});

test('the image runs the agent; in its container it joins the runtime internal network and reaches the runtime', async () => {
  await waitFor('agent up', async () => (await execIn(agentContainer, ['node', 'dist/main.js', 'health'])).out.includes('healthy'), 30_000, 500);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-apply-'));
  fs.writeFileSync(path.join(dir, 'plc.json'), JSON.stringify({ container_name: 'plc-img', vnic_configs: [{ parent_interface: lan.parent, network_mode: 'static', ip: '198.51.100.10', subnet: '198.51.100.0/26' }] }));
  await agentContainer.putArchive(tar.pack(dir) as unknown as NodeJS.ReadableStream, { path: '/var/orchestrator' });
  fs.rmSync(dir, { recursive: true, force: true });
  const applied = await execIn(agentContainer, ['node', 'dist/main.js', 'apply', '/var/orchestrator/plc.json']);
  assert.equal(applied.code, 0, applied.out);
  await waitFor('runtime running', async () => (await engine.docker.getContainer('plc-img').inspect()).State.Running, 30_000, 250);
  const self = await waitFor('agent joined plc-img_internal', async () => {
    const c = await agentContainer.inspect();
    return 'plc-img_internal' in c.NetworkSettings.Networks ? c : null;
  }, 20_000, 250);
  assert.ok(self.NetworkSettings.Networks.agent_net);
  const ip = (await engine.docker.getContainer('plc-img').inspect()).NetworkSettings.Networks['plc-img_internal']!.IPAddress;
  const js = `require('https').get({host:'${ip}',port:8443,path:'/api/ping',rejectUnauthorized:false,timeout:5000},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>console.log(r.statusCode,b))}).on('error',e=>console.log('error',e.message))`;
  // Running is not listening: the stand-in's server comes up after its process starts (1 s and more on a
  // loaded machine), so the ping is retried until it answers or the wait fails with its last answer.
  let answer = '';
  await waitFor('the runtime answers /api/ping from the agent\'s container', async () => (answer = (await execIn(agentContainer, ['node', '-e', js])).out.trim()) === '200 {"status":"PONG"}', 30_000, 500)
    .catch(() => undefined);
  assert.equal(answer, '200 {"status":"PONG"}');
  // The sidecar enters a runtime's network namespace as it does to set a MAC (nsenter + iproute2).
  const pid = (await engine.docker.getContainer('plc-img').inspect()).State.Pid;
  const ns = await execIn(netmonContainer, ['nsenter', '-t', String(pid), '-n', 'ip', '-j', 'addr', 'show']);
  assert.equal(ns.code, 0, `${ns.out}\n${(await execIn(netmonContainer, ['grep', 'Cap', '/proc/self/status'])).out}`);
  assert.ok((JSON.parse(ns.out) as { addr_info: { local: string }[] }[]).some((l) => l.addr_info.some((a) => a.local === '198.51.100.10')), ns.out);
  // The rest of what netmon does without --privileged (issue #22), each on an object this test made:
  // a sysctl through /proc/sys (proxy_arp, §9.2), a device node in a runtime's root (MKNOD + the device
  // cgroup rule, §9.4) and a DHCP client's raw socket on the test LAN's parent (NET_RAW, §9.1).
  // Exactly the narrow set, none of Docker's defaults: NET_BIND_SERVICE 10, NET_ADMIN 12, NET_RAW 13, SYS_PTRACE 19, SYS_ADMIN 21, MKNOD 27.
  const caps = /^CapEff:\s*([0-9a-f]+)/m.exec((await execIn(netmonContainer, ['cat', '/proc/self/status'])).out)?.[1];
  assert.equal(caps && BigInt(`0x${caps}`), (1n << 10n) | (1n << 12n) | (1n << 13n) | (1n << 19n) | (1n << 21n) | (1n << 27n), `CapEff ${caps}`);
  // udhcpc's renewals listen on UDP 68 in the runtime's namespace (a port below 1024).
  const bind68 = `require('dgram').createSocket('udp4').on('error',(e)=>{console.log(e.code);process.exit(1)}).bind(68,()=>{console.log('bound');process.exit(0)})`;
  const renew = await execIn(netmonContainer, ['nsenter', '-t', String(pid), '-n', 'node', '-e', bind68]);
  assert.deepEqual([renew.code, renew.out.trim()], [0, 'bound'], renew.out);
  const sysctl = await execIn(netmonContainer, ['sh', '-c', `echo 1 > /proc/sys/net/ipv4/conf/${lan.parent}/proxy_arp && cat /proc/sys/net/ipv4/conf/${lan.parent}/proxy_arp`]);
  assert.deepEqual([sysctl.code, sysctl.out.trim()], [0, '1'], sysctl.out);
  const node = await execIn(netmonContainer, ['sh', '-c', `mknod /proc/${pid}/root/tmp/ttyNarrow c 1 3 && head -c 0 /proc/${pid}/root/tmp/ttyNarrow && rm /proc/${pid}/root/tmp/ttyNarrow`]);
  assert.equal(node.code, 0, node.out);
  // A serial device for a running runtime (§9.4) by netmon's own command: the node in its root and, on cgroup
  // v1, a rule in its devices.allow through the host's devices hierarchy bound into netmon (c 4:200, a tty
  // minor the runtime lacks; a container cannot reach that hierarchy through /proc/1/root).
  const client = await NetmonClient.connect(path.join((await engine.docker.getVolume('orchestrator-shared').inspect()).Mountpoint, 'netmon.sock'));
  try {
    const made = await client.ask({ command: 'serial_node', id: 'img-serial', pid, path: '/dev/ttyNarrow0', major: 4, minor: 200, grant: true });
    assert.equal(made.success, true, JSON.stringify(made));
  } finally {
    client.close();
  }
  const devicesLine = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes('devices'));
  if (devicesLine !== undefined) assert.match(fs.readFileSync(`/sys/fs/cgroup/devices${devicesLine.split(':').slice(2).join(':')}/devices.list`, 'utf8'), /^c 4:200 rwm$/m);
  const dhcp = await execIn(netmonContainer, ['udhcpc', '-i', lan.parent, '-n', '-q', '-f', '-t', '1', '-T', '1', '-s', '/bin/true']);
  assert.doesNotMatch(dhcp.out, /not permitted|permission denied/i, dhcp.out);
  assert.match(dhcp.out, /broadcasting discover/, dhcp.out);
  const state = await execIn(agentContainer, ['node', 'dist/main.js', 'state', 'plc-img']);
  assert.match(state.out, /observed {2}phase Running/);
  let plan = '';
  await waitFor('converged', async () => (plan = (await execIn(agentContainer, ['node', 'dist/main.js', 'plan'])).out) === 'nothing to do: converged\n', 20_000, 500);
  assert.equal(plan, 'nothing to do: converged\n');
});

test('SIGTERM stops the agent container cleanly; the runtime keeps running', async () => {
  await agentContainer.stop({ t: 10 });
  const c = await agentContainer.inspect();
  assert.equal(c.State.ExitCode, 0);
  assert.equal((await engine.docker.getContainer('plc-img').inspect()).State.Running, true);
  await netmonContainer.stop({ t: 10 });
  assert.equal((await netmonContainer.inspect()).State.ExitCode, 0);
});
