// Hardware passthrough end to end (CONTRACT §9.3, §9.4), from cloud requests over mTLS: a device node made
// with mknod (major 188, no driver behind it) stands in for a USB serial adapter, and a veth whose peer sits
// in a LAN namespace (not named veth*: netmon ignores those) for the dedicated NIC. netmon runs as a process.
// A second runtime runs an image with node only (no sh, no mknod): netmon makes its nodes from outside.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_IMAGE } from '../support/agent-fixture.js';
import { startCloudStack, type CloudStack } from '../support/cloud-stack.js';
import { buildRuntimeStandIn } from '../support/images.js';
import { devNumbers } from '../../src/netmon/serial.js';
import { execIn } from '../support/exec-in.js';
import { NetmonClient, NetmonProcess } from '../support/netmon-process.js';
import { waitFor } from '../support/wait.js';

const SUBNET = '198.51.100.0/25';
const NIC_LAN = '203.0.113.64/26';
const id = randomBytes(3).toString('hex');
const NIC = `tdn${id}`; // the dedicated NIC stand-in (host end)
const NIC_PEER = `tdp${id}`;
const NIC_NS = `orch-niclan-${id}`;
const WIFI = `twf${id}`; // a NIC declared Wi-Fi through ORCH_NETMON_WIFI_INTERFACES
const BY_ID = 'usb-FTDI_FT232R_TEST01-if00-port0';
const BY_ID2 = 'usb-FTDI_FT232R_TEST02-if00-port0'; // the no-shell runtime's adapter
/** The node binary inside the no-shell stand-in (this machine's, at its real path). */
const NODE = fs.realpathSync(process.execPath);

let stack: CloudStack;
let netmon: NetmonProcess;
let netmonDir: string;
let devDir: string;
let byIdDir: string;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const onHost = (nic: string) => spawnSync('ip', ['link', 'show', 'dev', nic], { stdio: 'ignore' }).status === 0;
const status = (name: string) => stack.cloud.call('get_device_status', { correlation_id: `s-${name}`, device_id: name });
type Port = { name: string; status: string; current_host_path: string | null; major: number | null; minor: number | null; container_path: string };
const portOf = async (name: string) => ((await status(name)).serial_ports as Port[] | undefined)?.[0];
const nicOf = async (name: string) => (await status(name)).dedicated_interface as { name: string; present: boolean } | undefined;
const container = (name: string) => stack.engine.docker.getContainer(name);

/** Major and minor of a node inside the container (busybox stat prints them in hex). */
async function nodeInside(name: string, p: string): Promise<string> {
  const r = await execIn(stack.engine.docker, container(name), ['stat', '-c', '%F %t:%T', p]);
  assert.equal(r.code, 0, r.out);
  const [kind, mm] = r.out.trim().split(/ (?=[0-9a-f]+:[0-9a-f]+$)/);
  const [ma, mi] = mm!.split(':').map((h) => parseInt(h, 16));
  return `${kind} ${ma}:${mi}`;
}

/** A node in the container's /dev, seen from outside through its root (the no-shell image has no stat). */
async function nodeFromOutside(name: string, p: string): Promise<string | null> {
  const pid = (await container(name).inspect()).State.Pid;
  const st = fs.lstatSync(`/proc/${pid}/root${p}`, { throwIfNoEntry: false });
  if (!st) return null;
  const { major, minor } = devNumbers(st.rdev);
  return `${st.isCharacterDevice() ? 'char' : 'other'} ${major}:${minor} ${(st.mode & 0o777).toString(8)}`;
}

/** Opening a node in the container with its own node binary: ENXIO/ENODEV (no driver) is right, EPERM means no cgroup rule. */
async function openWithNode(name: string, p: string): Promise<string> {
  const js = "try { require('fs').closeSync(require('fs').openSync(process.argv[1], 'r+')); console.log('OPENED') } catch (e) { console.log(e.code) }";
  return (await execIn(stack.engine.docker, container(name), [NODE, '-e', js, p])).out.trim();
}

/** What opening the node inside the container says: ENXIO/ENODEV (no driver) is right, EPERM means no cgroup rule. */
async function openInside(name: string, p: string): Promise<string> {
  return (await execIn(stack.engine.docker, container(name), ['sh', '-c', `cat ${p} 2>&1; true`])).out;
}

const vnic = () => ({ name: 'eth0', parent_interface: stack.lan.parent, network_mode: 'static', ip: '198.51.100.10', subnet: SUBNET, gateway: '198.51.100.1' });
const create = (name: string, extra: Record<string, unknown>, vnics = [vnic()]) =>
  stack.cloud.call('create_new_runtime', { correlation_id: `c-${name}`, container_name: name, vnic_configs: vnics, ...extra });

describe('hardware passthrough: serial ports and a dedicated NIC', () => {
  before(async () => {
    devDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-dev-'));
    byIdDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-byid-'));
    execFileSync('mknod', [path.join(devDir, 'ttyUSB0'), 'c', '188', '0']);
    fs.symlinkSync(path.join(devDir, 'ttyUSB0'), path.join(byIdDir, BY_ID));
    execFileSync('mknod', [path.join(devDir, 'ttyUSB1'), 'c', '188', '1']);
    fs.symlinkSync(path.join(devDir, 'ttyUSB1'), path.join(byIdDir, BY_ID2));
    // The NIC's LAN: its peer in a namespace with an address; the host end up, without an address.
    ip('netns', 'add', NIC_NS);
    ip('link', 'add', NIC, 'type', 'veth', 'peer', 'name', NIC_PEER);
    ip('link', 'set', NIC_PEER, 'netns', NIC_NS);
    ip('netns', 'exec', NIC_NS, 'ip', 'addr', 'add', '203.0.113.126/26', 'dev', NIC_PEER);
    ip('netns', 'exec', NIC_NS, 'ip', 'link', 'set', NIC_PEER, 'up');
    ip('link', 'set', NIC, 'up');
    ip('link', 'add', WIFI, 'type', 'veth', 'peer', 'name', `twq${id}`);
    ip('link', 'set', WIFI, 'up');
    netmonDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-hwnetmon-'));
    netmon = new NetmonProcess(path.join(netmonDir, 'netmon.sock'), 100, {
      ORCH_NETMON_SERIAL_GLOBS: `${devDir}/ttyUSB*`,
      ORCH_NETMON_SERIAL_BY_ID_DIR: byIdDir,
      ORCH_NETMON_WIFI_INTERFACES: WIFI,
    });
    await netmon.start();
    stack = await startCloudStack({ subnet: SUBNET, agentId: 'agent-hw', env: { ORCH_NETMON_SOCKET: netmon.socketPath, ORCH_SERIAL_MAJORS: '188,166' } });
    await waitFor('netmon facts in the agent', async () => (await stack.cloud.call('get_host_interfaces', { correlation_id: 'h0' })).status === 'success', 20_000);
    await buildRuntimeStandIn(stack.engine.docker, TEST_IMAGE, 'noshell', { shell: false });
  });
  after(async () => {
    if (process.env.ORCH_TEST_SHOW_LOGS && netmonDir) process.stderr.write(fs.readFileSync(path.join(netmonDir, 'netmon.sock.log'), 'utf8').slice(-6000));
    await stack?.teardown();
    await netmon?.stop();
    spawnSync('ip', ['link', 'del', NIC], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', WIFI], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', NIC_NS], { stdio: 'ignore' });
    for (const d of [devDir, byIdDir, netmonDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('get_serial_devices lists the adapter with its stable id', async () => {
    const ack = await waitFor('the device reported', async () => {
      const a = await stack.cloud.call('get_serial_devices', { correlation_id: 'sd1' });
      return (a.count as number) >= 1 ? a : null;
    }, 10_000);
    assert.equal(ack.status, 'success');
    const d = (ack.devices as { path: string; device_id: string | null; major: number; minor: number }[]).find((x) => x.path === path.join(devDir, 'ttyUSB0'));
    assert.equal(ack.count, 2);
    assert.ok(d, JSON.stringify(ack.devices));
    assert.equal(d.device_id, path.join(byIdDir, BY_ID));
    assert.deepEqual([d.major, d.minor], [188, 0]);
  });

  test('create: the node inside with the same major/minor (opening it fails for want of a driver, never EPERM); the NIC moved in and reachable from its LAN', async () => {
    const ack = await create('plc-hw', { serial_configs: [{ name: 'rtu', device_id: BY_ID, container_path: '/dev/modbus0', baud_rate: 19200 }], dedicated_interface: NIC });
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    assert.equal(ack.serial_configs_count, 1, 'as the Python agent acks');
    await waitFor('serial port connected', async () => (await portOf('plc-hw'))?.status === 'connected', 60_000, 200);
    await waitFor('NIC present', async () => (await nicOf('plc-hw'))?.present === true, 30_000, 200);
    const port = (await portOf('plc-hw'))!;
    assert.deepEqual([port.current_host_path, port.major, port.minor, port.container_path], [path.join(devDir, 'ttyUSB0'), 188, 0, '/dev/modbus0']);
    assert.equal(await nodeInside('plc-hw', '/dev/modbus0'), 'character special file 188:0');
    const opened = await openInside('plc-hw', '/dev/modbus0');
    assert.match(opened, /No such device/, opened);
    assert.doesNotMatch(opened, /not permitted/);
    const info = await container('plc-hw').inspect();
    assert.deepEqual(info.HostConfig.DeviceCgroupRules, ['c 188:0 rwm'], 'the matched device only, not its whole major');
    const caps = (info.HostConfig as { CapAdd?: string[] }).CapAdd ?? [];
    for (const cap of ['NET_RAW', 'NET_ADMIN']) assert.ok(caps.includes(cap), cap);
    assert.deepEqual((info.HostConfig as { CapDrop?: string[] }).CapDrop, ['MKNOD']);
    // A hostile PLC program makes no node: not the host console (4:1), not another runtime's adapter (188:1).
    for (const [p, ma, mi] of [['/dev/tty1x', '4', '1'], ['/dev/usb1x', '188', '1']] as const) {
      const r = await execIn(stack.engine.docker, container('plc-hw'), ['mknod', p, 'c', ma, mi]);
      assert.notEqual(r.code, 0, `mknod ${ma}:${mi} in the runtime`);
      assert.match(r.out, /not permitted/);
    }
    // And a node someone else made there opens only for its granted device: the cgroup rule names one minor.
    const pid = info.State.Pid;
    execFileSync('mknod', [`/proc/${pid}/root/dev/tty1x`, 'c', '4', '1']);
    execFileSync('mknod', [`/proc/${pid}/root/dev/usb1x`, 'c', '188', '1']);
    for (const p of ['/dev/tty1x', '/dev/usb1x']) assert.match(await openInside('plc-hw', p), /not permitted/, p);
    fs.rmSync(`/proc/${pid}/root/dev/tty1x`);
    fs.rmSync(`/proc/${pid}/root/dev/usb1x`);
    // The NIC left the host for the runtime's namespace; the runtime configures it and its LAN reaches it.
    assert.equal(onHost(NIC), false);
    assert.equal((await execIn(stack.engine.docker, container('plc-hw'), ['ip', 'addr', 'add', '203.0.113.65/26', 'dev', NIC])).code, 0);
    assert.equal((await execIn(stack.engine.docker, container('plc-hw'), ['ip', 'link', 'set', NIC, 'up'])).code, 0);
    ip('netns', 'exec', NIC_NS, 'busybox', 'ping', '-c', '1', '-W', '3', '203.0.113.65');
    const hosts = (await stack.cloud.call('get_host_interfaces', { correlation_id: 'h1' })).interfaces as { name: string; dedicated_to?: string }[];
    assert.equal(hosts.find((h) => h.name === NIC)?.dedicated_to, 'plc-hw');
  });

  test('every refusal of §9.3 names dedicated_interface, and nothing is made or moved', async () => {
    const defaultDev = /dev (\S+)/.exec(ip('-4', 'route', 'show', 'default'))?.[1];
    const cases: [string, string, RegExp][] = [
      ['plc-r1', NIC, /^dedicated_interface: .* is already dedicated to plc-hw$/],
      ['plc-r2', 'tdnnothere', /^dedicated_interface: tdnnothere: netmon does not know this interface$/],
      ['plc-r3', WIFI, /^dedicated_interface: .* is a Wi-Fi interface/],
      ['plc-r4', stack.lan.parent, /^dedicated_interface: .* is the parent of vnic_configs\[0\]/],
      ...(defaultDev ? ([['plc-r5', defaultDev, /^dedicated_interface: .* carries the host's (default )?route/]] as [string, string, RegExp][]) : []),
    ];
    for (const [name, nic, re] of cases) {
      const ack = await create(name, { dedicated_interface: nic }, [{ ...vnic(), ip: '198.51.100.20' }]);
      assert.equal(ack.status, 'error', `${nic}: ${JSON.stringify(ack)}`);
      assert.match(String(ack.error), re);
      assert.equal((await status(name)).status, 'not_found', `${name} was not declared`);
    }
    // The parent of another runtime's vNIC; and the other way round, a vNIC on another runtime's dedicated NIC.
    const other = await create('plc-r6', { dedicated_interface: stack.lan.parent }, [{ ...vnic(), parent_interface: WIFI, ip: '203.0.113.70', subnet: NIC_LAN, gateway: '203.0.113.65' }]);
    assert.equal(other.status, 'error');
    assert.match(String(other.error), /^dedicated_interface: .* is the parent of a vNIC of plc-hw$/);
    const onNic = await create('plc-r7', {}, [{ ...vnic(), parent_interface: NIC, ip: '203.0.113.70', subnet: NIC_LAN, gateway: '203.0.113.65' }]);
    assert.equal(onNic.status, 'error');
    assert.match(String(onNic.error), /^vnic_configs\[0\]\.parent_interface: .* is dedicated to plc-hw$/);
    for (const name of ['plc-r6', 'plc-r7']) assert.equal((await status(name)).status, 'not_found');
    // The same request again is idempotent.
    const again = await create('plc-hw', { serial_configs: [{ name: 'rtu', device_id: BY_ID, container_path: '/dev/modbus0', baud_rate: 19200 }], dedicated_interface: NIC });
    assert.equal(again.status, 'creating', JSON.stringify(again));
    assert.equal(onHost(NIC), false, 'still in the runtime');
    assert.equal((await nicOf('plc-hw'))?.present, true);
  });

  test('unplug → disconnected (node removed); re-plug as another minor → connected again, without a restart', async () => {
    const startedAt = (await container('plc-hw').inspect()).State.StartedAt;
    fs.rmSync(path.join(byIdDir, BY_ID));
    fs.rmSync(path.join(devDir, 'ttyUSB0'));
    await waitFor('disconnected', async () => (await portOf('plc-hw'))?.status === 'disconnected', 10_000, 100);
    await waitFor('the node removed', async () => (await execIn(stack.engine.docker, container('plc-hw'), ['stat', '/dev/modbus0'])).code !== 0, 10_000, 100);
    execFileSync('mknod', [path.join(devDir, 'ttyUSB0'), 'c', '188', '5']);
    fs.symlinkSync(path.join(devDir, 'ttyUSB0'), path.join(byIdDir, BY_ID));
    await waitFor('connected as 188:5', async () => {
      const p = await portOf('plc-hw');
      return p?.status === 'connected' && p.minor === 5;
    }, 10_000, 100);
    assert.equal(await nodeInside('plc-hw', '/dev/modbus0'), 'character special file 188:5');
    assert.match(await openInside('plc-hw', '/dev/modbus0'), /No such device/, 'granted without a restart');
    assert.equal((await container('plc-hw').inspect()).State.StartedAt, startedAt, 'no restart');
  });

  test('a runtime image without a shell: the node made from outside on create, unplug, re-plug as another minor and restart', async () => {
    const ack = await create('plc-ns', { runtime_version: 'noshell', serial_configs: [{ name: 'rtu', device_id: BY_ID2, container_path: '/dev/serial/rtu0' }] }, [{ ...vnic(), ip: '198.51.100.11' }]);
    assert.equal(ack.status, 'creating', JSON.stringify(ack));
    await waitFor('serial port connected', async () => (await portOf('plc-ns'))?.status === 'connected', 60_000, 200);
    assert.equal((await execIn(stack.engine.docker, container('plc-ns'), ['sh', '-c', 'true'])).code !== 0, true, 'the image has no sh');
    assert.equal(await nodeFromOutside('plc-ns', '/dev/serial/rtu0'), 'char 188:1 666', 'parent directory made, mode 0666');
    assert.match(await openWithNode('plc-ns', '/dev/serial/rtu0'), /^(ENXIO|ENODEV)$/);
    let startedAt = (await container('plc-ns').inspect()).State.StartedAt;
    fs.rmSync(path.join(byIdDir, BY_ID2));
    fs.rmSync(path.join(devDir, 'ttyUSB1'));
    await waitFor('disconnected and the node removed', async () => (await portOf('plc-ns'))?.status === 'disconnected' && (await nodeFromOutside('plc-ns', '/dev/serial/rtu0')) === null, 10_000, 100);
    execFileSync('mknod', [path.join(devDir, 'ttyUSB3'), 'c', '188', '3']);
    fs.symlinkSync(path.join(devDir, 'ttyUSB3'), path.join(byIdDir, BY_ID2));
    await waitFor('connected as 188:3', async () => {
      const p = await portOf('plc-ns');
      return p?.status === 'connected' && p.minor === 3;
    }, 10_000, 100);
    assert.equal(await nodeFromOutside('plc-ns', '/dev/serial/rtu0'), 'char 188:3 666');
    assert.match(await openWithNode('plc-ns', '/dev/serial/rtu0'), /^(ENXIO|ENODEV)$/, 'the new minor granted');
    // cgroup v1 (this machine): granted by netmon, no restart; cgroup v2: re-created with the new rule.
    const v2 = ((await stack.engine.docker.info()) as { CgroupVersion?: string }).CgroupVersion === '2';
    const now = await container('plc-ns').inspect();
    if (v2) assert.deepEqual(now.HostConfig.DeviceCgroupRules, ['c 188:3 rwm']);
    else assert.equal(now.State.StartedAt, startedAt, 'no restart');
    // A restart: a new /dev, and the create-time rules again (v1: 188:1): node and grant made again.
    startedAt = now.State.StartedAt;
    await stack.cloud.call('restart_device', { correlation_id: 'r-ns', device_id: 'plc-ns' });
    await waitFor('restarted with its node', async () => {
      const c = await container('plc-ns').inspect();
      return c.State.Running && c.State.StartedAt !== startedAt && (await nodeFromOutside('plc-ns', '/dev/serial/rtu0')) === 'char 188:3 666';
    }, 30_000, 200);
    assert.match(await openWithNode('plc-ns', '/dev/serial/rtu0'), /^(ENXIO|ENODEV)$/);
    assert.equal((await portOf('plc-ns'))?.status, 'connected');
    await stack.cloud.call('delete_device', { correlation_id: 'd-ns', device_id: 'plc-ns' });
    await waitFor('deleted', async () => (await status('plc-ns')).status === 'not_found', 60_000, 200);
  });

  test('restart_device: the node is made again and the NIC returned, then moved into the new namespace', async () => {
    const before = await container('plc-hw').inspect();
    const ack = await stack.cloud.call('restart_device', { correlation_id: 'r1', device_id: 'plc-hw' });
    assert.notEqual(ack.status, 'error', JSON.stringify(ack));
    await waitFor('restarted', async () => {
      const c = await container('plc-hw').inspect();
      return c.State.Running && c.State.StartedAt !== before.State.StartedAt;
    }, 30_000, 100);
    await waitFor('NIC moved in again', async () => (await nicOf('plc-hw'))?.present === true && !onHost(NIC), 30_000, 200);
    await waitFor('node back', async () => (await execIn(stack.engine.docker, container('plc-hw'), ['stat', '/dev/modbus0'])).code === 0, 30_000, 200);
    assert.equal(await nodeInside('plc-hw', '/dev/modbus0'), 'character special file 188:5');
    assert.equal((await portOf('plc-hw'))?.status, 'connected');
    assert.equal((await container('plc-hw').inspect()).Id, before.Id, 'not re-created');
    // The veth survived the restart: it was handed back before the old namespace went.
    assert.equal((await execIn(stack.engine.docker, container('plc-hw'), ['ip', 'link', 'show', NIC])).code, 0);
  });

  test('netmon restarted: the devices and the NIC are known again; the runtime untouched', async () => {
    const startedAt = (await container('plc-hw').inspect()).State.StartedAt;
    await netmon.stop();
    await netmon.start();
    // The new netmon knows nothing it did not find: the agent asks it to move the NIC, and it finds it inside.
    const client = await NetmonClient.connect(netmon.socketPath);
    try {
      let n = 0;
      await waitFor('the new netmon knows the NIC is dedicated', async () => {
        const a = await client.ask({ command: 'get_status', id: `st${n++}` });
        return (a.interfaces as { interface: string; dedicated_to?: string }[]).find((i) => i.interface === NIC)?.dedicated_to === 'plc-hw';
      }, 30_000, 200);
      const serial = await client.ask({ command: 'serial_devices', id: 'sd' });
      assert.deepEqual((serial.devices as { path: string }[]).map((d) => d.path), [path.join(devDir, 'ttyUSB0'), path.join(devDir, 'ttyUSB3')]);
    } finally {
      client.close();
    }
    assert.equal((await nicOf('plc-hw'))?.present, true);
    assert.equal((await portOf('plc-hw'))?.status, 'connected');
    assert.equal((await container('plc-hw').inspect()).State.StartedAt, startedAt);
  });

  test('delete_device hands the NIC back to the host; then an uninstall does too', async () => {
    await stack.cloud.call('delete_device', { correlation_id: 'd1', device_id: 'plc-hw' });
    await waitFor('deleted', async () => (await status('plc-hw')).status === 'not_found', 60_000, 200);
    assert.equal(onHost(NIC), true, 'the NIC is back on the host');
    await waitFor('netmon reports it as a host NIC', async () => {
      const hosts = (await stack.cloud.call('get_host_interfaces', { correlation_id: 'h3' })).interfaces as { name: string; dedicated_to?: string }[];
      const h = hosts.find((x) => x.name === NIC);
      return h !== undefined && h.dedicated_to === undefined;
    }, 10_000, 200);
    assert.equal((await create('plc-hw2', { dedicated_interface: NIC }, [{ ...vnic(), ip: '198.51.100.30' }])).status, 'creating');
    await waitFor('NIC in plc-hw2', async () => (await nicOf('plc-hw2'))?.present === true, 60_000, 200);
    assert.equal(onHost(NIC), false);
    assert.equal((await stack.cloud.call('delete_orchestrator', { correlation_id: 'u1' })).status, 'accepted');
    await waitFor('uninstall done', async () => (await status('__orchestrator__')).step === 'done', 60_000, 200);
    assert.equal(onHost(NIC), true, 'the uninstall handed the NIC back before the runtime went');
  });
});
