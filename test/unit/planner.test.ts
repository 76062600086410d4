import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Observed, ObservedContainer } from '../../src/docker/observed.js';
import { plan, type HostFacts } from '../../src/reconcilers/planner.js';
import { LABEL, labelsFor } from '../../src/domain/names.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import type { SerialDevice } from '../../src/netmon/iface.js';
import { specHash } from '../../src/domain/spec-hash.js';
import { hostFacts } from '../support/host-facts.js';
import { initialStatus, type RuntimeRecord } from '../../src/store/schema.js';

const facts = hostFacts;
const spec = (name: string, subnet: string | null = '198.51.100.0/24'): RuntimeSpec => ({
  name,
  runtimeVersion: 'latest',
  vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'dhcp', dns: [], ...(subnet ? { subnet } : {}) }],
});
const rec = (s: RuntimeSpec, over: Partial<RuntimeRecord> = {}): RuntimeRecord => ({
  spec: s, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status: initialStatus(), ...over,
});
const empty = (): Observed => ({ containers: [], networks: [], volumes: [] });

/** The observed world once `s` has fully converged. */
function convergedWorld(s: RuntimeSpec, state = 'running'): Observed {
  const mv = `macvlan_eth1_198.51.100.0_24`;
  const c: ObservedContainer = {
    id: `id-${s.name}`, name: s.name, image: 'img:latest', state, status: '',
    labels: { ...labelsFor('runtime', s.name), [LABEL.specHash]: specHash(s) },
    networks: { [mv]: { ip: null, mac: null }, [`${s.name}_internal`]: { ip: null, mac: null } },
  };
  return {
    containers: [c],
    networks: [
      { id: 'n1', name: mv, labels: labelsFor('macvlan-network'), driver: 'macvlan', parent: 'eth1', subnet: '198.51.100.0/24' },
      { id: 'n2', name: `${s.name}_internal`, labels: labelsFor('internal-network', s.name), driver: 'bridge', parent: null, subnet: null },
    ],
    volumes: [{ name: `${s.name}_data`, labels: labelsFor('runtime-data', s.name) }],
  };
}

test('from nothing: the MACVLAN network first, then one createContainer (it brings the volume and internal network)', () => {
  const steps = plan({ a: rec(spec('a')) }, empty(), facts());
  assert.deepEqual(steps.map((s) => [s.key, s.action]), [['runtime/a', 'wait'], ['network/macvlan_eth1_198.51.100.0_24', 'createMacvlanNetwork']]);
  const withNet = { ...empty(), networks: [convergedWorld(spec('a')).networks[0]!] };
  assert.deepEqual(plan({ a: rec(spec('a')) }, withNet, facts()).map((s) => [s.key, s.action]), [['runtime/a', 'createContainer']]);
});

test('converged: no steps; and the plan is the same from a fresh copy', () => {
  const s = spec('a');
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s), facts()), []);
});

test('spec change → re-create; stop → stop; restart counter → restart', () => {
  const s = spec('a');
  const changed = { ...s, runtimeVersion: 'v2' };
  // A new version records its rollback target first (runtime-upgrade.test.ts); another change re-creates at once.
  assert.equal(plan({ a: rec(changed) }, convergedWorld(s), facts())[0]?.action, 'upgradeBegin');
  assert.equal(plan({ a: rec({ ...s, vnics: [{ ...s.vnics[0]!, dns: ['198.51.100.53'] }] }) }, convergedWorld(s), facts())[0]?.action, 'removeContainer');
  assert.equal(plan({ a: rec(s, { running: false }) }, convergedWorld(s), facts())[0]?.action, 'stop');
  assert.equal(plan({ a: rec(s, { restartCount: 1 }) }, convergedWorld(s), facts())[0]?.action, 'restart');
});

test('exited after we started it = crash; inside the backoff window = wait', () => {
  const s = spec('a');
  const started = { ...initialStatus(), lastStartedAt: '2025-12-31T23:59:00Z' };
  const [step] = plan({ a: rec(s, { status: started }) }, convergedWorld(s, 'exited'), facts());
  assert.ok(step?.action === 'start' && step.crashed);
  const waiting = { ...started, backoffUntil: '2026-01-01T00:00:10Z', crashCount: 1 };
  const crashWaits = new Map([['a', 11_000]]); // the monotonic deadline, 10 s after mono 1000
  assert.deepEqual(plan({ a: rec(s, { status: waiting }) }, convergedWorld(s, 'exited'), facts({ crashWaits })).map((x) => x.action), ['wait']);
  // The wall clock stepped back an hour says nothing: the monotonic deadline decides.
  const hourBack = facts({ crashWaits, now: Date.parse('2025-12-31T23:00:00Z'), mono: 11_001 });
  assert.deepEqual(plan({ a: rec(s, { status: waiting }) }, convergedWorld(s, 'exited'), hourBack).map((x) => x.action), ['start']);
  const [fresh] = plan({ a: rec(s) }, convergedWorld(s, 'created'), facts());
  assert.ok(fresh?.action === 'start' && !fresh.crashed);
});

test('subnet from netmon facts; unknown subnet waits with ParentSubnetUnknown', () => {
  const s = spec('a', null);
  const [w] = plan({ a: rec(s) }, empty(), facts());
  assert.equal(w?.action, 'wait');
  assert.match(w.reason, /^ParentSubnetUnknown/);
  const iface = { interface: 'eth1', operstate: 'up', type: 'ethernet' as const, mac_address: null, gateway: '198.51.100.1',
    ipv4_addresses: [{ address: '198.51.100.5', prefixlen: 24, subnet: '198.51.100.0/24', network_address: '198.51.100.0' }] };
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s), facts({ interfaces: [iface] })), []);
});

test('deletion in order: container, internal network, volume, then forget; unneeded MACVLAN removed', () => {
  const s = spec('a');
  const w = convergedWorld(s);
  const del = rec(s, { deletion: { requestedAt: 'x' } });
  assert.equal(plan({ a: del }, w, facts())[0]?.action, 'removeContainer');
  w.containers = [];
  const steps = plan({ a: del }, w, facts());
  assert.deepEqual(steps.map((x) => x.action).sort(), ['removeNetwork', 'removeNetwork']);
  w.networks = [];
  assert.equal(plan({ a: del }, w, facts())[0]?.action, 'removeVolume');
  w.volumes = [];
  assert.equal(plan({ a: del }, w, facts())[0]?.action, 'forget');
});

test('undeclared: a runtime container or data volume is never collected; networks are, but not while the state is untrusted', () => {
  const w = convergedWorld(spec('ghost'));
  assert.deepEqual(plan({}, w, facts()), []);
  w.containers = [];
  assert.deepEqual(plan({}, w, facts()).map((x) => x.action).sort(), ['removeNetwork', 'removeNetwork']);
  assert.deepEqual(plan({}, w, facts({ gcAllowed: false })), []);
});

test('an uninstall removes undeclared runtime containers too, but never on an untrusted state', () => {
  const w = convergedWorld(spec('ghost'));
  assert.deepEqual(plan({}, w, facts({ uninstall: 'deleting_runtimes' })).map((x) => x.action)[0], 'removeContainer');
  assert.deepEqual(plan({}, w, facts({ uninstall: 'deleting_runtimes', gcAllowed: false })), []);
});

test('download before kill: a new spec whose image is not local pulls first and leaves the running container alone', () => {
  const s = spec('a');
  const w = convergedWorld(s);
  const v2 = { ...s, runtimeVersion: 'v3' };
  const steps = plan({ a: rec(v2, { generation: 2 }) }, w, facts());
  assert.deepEqual(steps.map((x) => [x.key, x.action]), [['runtime/a', 'wait'], ['image/img:v3', 'pullImage']]);
  assert.ok(steps[0]?.action === 'wait' && steps[0].condition === 'ImageReady');
  const later = plan({ a: rec(v2, { generation: 2 }) }, w, facts({ imagesPresent: new Set(['img:v3']) }));
  assert.deepEqual(later.map((x) => x.action), ['upgradeBegin']);
});

test('ORCH_RUNTIME_IMAGE is where images come from, not what a runtime is: another repository re-creates nothing', () => {
  const s = spec('a');
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s), facts({ runtimeImage: 'registry.local:5000/plc', imagesPresent: new Set() })), []);
});

test('a burst of creates with one image pulls it once', () => {
  const [wa, wb] = [convergedWorld(spec('a')), convergedWorld(spec('b'))];
  const world: Observed = { containers: [], networks: [...wa.networks, wb.networks[1]!], volumes: [...wa.volumes, ...wb.volumes] };
  const steps = plan({ a: rec(spec('a')), b: rec(spec('b')) }, world, facts({ imagesPresent: new Set() }));
  assert.deepEqual(steps.map((x) => [x.key, x.action]), [['runtime/a', 'wait'], ['image/img:latest', 'pullImage'], ['runtime/b', 'wait']]);
});

test('a subnet change moves the runtime without re-creating it', () => {
  const s = spec('a', null);
  const w = convergedWorld(spec('a'));
  const moved = { interface: 'eth1', operstate: 'up', type: 'ethernet' as const, mac_address: null, gateway: null,
    ipv4_addresses: [{ address: '203.0.113.5', prefixlen: 24, subnet: '203.0.113.0/24', network_address: '203.0.113.0' }] };
  w.containers[0]!.labels[LABEL.specHash] = specHash(s);
  const steps = plan({ a: rec(s) }, w, facts({ interfaces: [moved] }));
  assert.deepEqual(steps.map((x) => x.action), ['disconnect']);
});

test('when the agent runs in a container it joins each internal network', () => {
  const s = spec('a');
  const [st] = plan({ a: rec(s) }, convergedWorld(s), facts({ selfContainerId: 'me' }));
  assert.ok(st?.action === 'connectSelf' && st.network === 'a_internal');
});

test('boot sequencing: a netmon-derived subnet waits for netmon; an explicit subnet starts at once', () => {
  const steps = plan({ a: rec(spec('a', null)), b: rec(spec('b')) }, empty(), facts({ netmonReady: false }));
  const a = steps.find((s) => s.device === 'a')!;
  assert.equal(a.action, 'wait');
  assert.match(a.reason, /^WaitingForNetmon/);
  assert.match(steps.find((s) => s.device === 'b')?.reason ?? '', /^waiting for network macvlan_eth1/, 'b only waits for its network, not for netmon');
});

test('two subnets demanded on one parent: the existing one wins, the other runtime is told', () => {
  const s = spec('a');
  const w = convergedWorld(s);
  const other: RuntimeSpec = { ...spec('b'), vnics: [{ name: 'eth0', parentInterface: 'eth1', mode: 'dhcp', dns: [], subnet: '203.0.113.0/24' }] };
  const steps = plan({ a: rec(s), b: rec(other) }, w, facts());
  const b = steps.find((x) => x.device === 'b')!;
  assert.equal(b.action, 'wait');
  assert.match(b.reason, /^ParentConflict: eth1 already carries macvlan_eth1_198.51.100.0_24/);
  assert.ok(!steps.some((x) => x.action === 'createMacvlanNetwork'));
});

test('a parent that netmon reports down or missing blocks its runtime; a replaced parent (new ifindex) re-attaches', () => {
  const s = spec('a');
  const iface = (over: object) => ({ interface: 'eth1', index: 7, operstate: 'up', type: 'ethernet' as const, mac_address: null, gateway: null, ipv4_addresses: [], ...over });
  assert.match(plan({ a: rec(s) }, convergedWorld(s), facts({ hostKnown: true, interfaces: [iface({ status: 'down' })] }))[0]!.reason, /^ParentDown/);
  assert.match(plan({ a: rec(s) }, convergedWorld(s), facts({ hostKnown: true, interfaces: [] }))[0]!.reason, /^ParentMissing/);
  const w = convergedWorld(s);
  w.networks[0]!.labels[LABEL.parentIndex] = '5';
  assert.deepEqual(plan({ a: rec(s) }, w, facts({ hostKnown: true, interfaces: [iface({})] })).map((x) => x.action), ['disconnect']);
  w.networks[0]!.labels[LABEL.parentIndex] = '7';
  assert.deepEqual(plan({ a: rec(s) }, w, facts({ hostKnown: true, interfaces: [iface({})] })), []);
});

test('a MAC Docker ignored is set in the namespace once, then remembered', () => {
  const s = spec('a');
  const w = convergedWorld(s);
  w.containers[0]!.networks['macvlan_eth1_198.51.100.0_24']!.mac = '02:42:c6:33:64:02';
  const [fix] = plan({ a: rec(s) }, w, facts());
  assert.ok(fix?.action === 'fixMac');
  assert.equal(fix.parent, 'eth1', "netmon finds the endpoint's interface by its parent, never by an address (a lease replaces Docker's)");
  assert.deepEqual(plan({ a: rec(s) }, w, facts({ nsMacs: new Map([[`id-a/macvlan_eth1_198.51.100.0_24`, fix.mac]]) })), []);
});

test('runtime limits: without ORCH_RUNTIME_*_LIMIT nothing is planned; with one, each container is updated once, running or not', () => {
  const s = spec('a');
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s), facts()), []);
  for (const state of ['running', 'exited']) {
    const steps = plan({ a: rec(s, { running: state === 'running' }) }, convergedWorld(s, state), facts({ limitsCurrent: () => false }));
    assert.deepEqual(steps.map((x) => [x.key, x.action, 'containerId' in x ? x.containerId : null]), [['runtime/a', 'updateLimits', 'id-a']]);
  }
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s), facts({ limitsCurrent: (id) => id === 'id-a' })), []);
});

test('a dedicated NIC is moved in whenever netmon sees it on the host, never while it is inside; a veth gone with its namespace is looked for again', () => {
  const s: RuntimeSpec = { ...spec('a'), dedicatedInterface: 'tdn0' };
  const eth1 = { interface: 'eth1', index: 2, operstate: 'up', type: 'ethernet' as const, mac_address: null, ipv4_addresses: [], gateway: null };
  const nic = (over: object = {}) => ({ interface: 'tdn0', index: 7, operstate: 'up', type: 'ethernet' as const, mac_address: null, ipv4_addresses: [], gateway: null, ...over });
  const world = convergedWorld(s);
  const moves = (interfaces: HostFacts['interfaces'], state = 'running') => plan({ a: rec(s) }, state === 'running' ? world : convergedWorld(s, state), facts({ hostKnown: true, interfaces })).filter((x) => x.action === 'nicMove');
  // After a start (a new namespace) or after the runtime died on its own (the kernel gave the physical NIC back): on the host.
  assert.deepEqual(moves([eth1, nic()]).map((x) => [x.key, x.action === 'nicMove' && x.nic, x.action === 'nicMove' && x.containerId]), [['nic/a', 'tdn0', 'id-a']]);
  assert.deepEqual(moves([eth1, nic({ dedicated_to: 'a' })]), [], 'inside: nothing to do');
  // A restarted netmon forgets what it moved; a veth stand-in dies with the namespace: asked again, netmon finds it or says it is gone.
  assert.equal(moves([eth1]).length, 1);
  assert.deepEqual(moves([eth1, nic()], 'exited').length, 0, 'never into a container that does not run');
  assert.deepEqual(plan({ a: rec(s) }, world, facts({ hostKnown: false, interfaces: [eth1, nic()] })).filter((x) => x.action === 'nicMove'), [], 'no facts: no move');
  // Never while the agent restarts or stops it (the NIC was handed back for that); a NIC that gained the
  // host's default route meanwhile is never moved.
  assert.deepEqual(plan({ a: rec(s, { restartCount: 1 }) }, world, facts({ hostKnown: true, interfaces: [eth1, nic()] })).map((x) => [x.key, x.action]), [['runtime/a', 'restart']]);
  assert.deepEqual(plan({ a: rec(s, { running: false }) }, world, facts({ hostKnown: true, interfaces: [eth1, nic()] })).map((x) => [x.key, x.action]), [['runtime/a', 'stop']]);
  assert.deepEqual(moves([eth1, nic({ default_route: true, gateway: '192.0.2.1' })]), []);
  // Its networks waiting (parent down) do not hold up its hardware: keys differ.
  const down = plan({ a: rec(s) }, world, facts({ hostKnown: true, interfaces: [{ ...eth1, status: 'down' as const }, nic()] }));
  assert.deepEqual(down.map((x) => [x.key, x.action]), [['nic/a', 'nicMove'], ['runtime/a', 'wait']]);
});

test('serial ports: a node per matched device after every start and re-plug; an unplugged device plans nothing', () => {
  const s: RuntimeSpec = { ...spec('a'), serialConfigs: [{ name: 'rtu', deviceId: 'usb-FTDI_X-if00-port0', containerPath: '/dev/modbus0' }, { name: 'two', deviceId: 'ttyACM0', containerPath: '/dev/ttyS9' }] };
  const usb: SerialDevice = { path: '/dev/ttyUSB0', by_id: '/dev/serial/by-id/usb-FTDI_X-if00-port0', major: 188, minor: 0, vendor_id: null, product_id: null, serial: null, subsystem: 'tty' as const, manufacturer: null, product: null };
  const acm = { ...usb, path: '/dev/ttyACM0', by_id: null, major: 166, minor: 3 };
  const nodes = (devs: SerialDevice[], made: [string, string][] = []) =>
    plan({ a: rec(s) }, convergedWorld(s), facts({ serialDevices: devs, serialNodes: new Map(made) })).filter((x) => x.action === 'serialNode');
  const first = nodes([usb, acm]);
  assert.equal(first.length, 1, 'one node per pass');
  assert.ok(first[0]!.action === 'serialNode' && first[0]!.path === '/dev/modbus0' && first[0]!.major === 188 && first[0]!.minor === 0 && first[0]!.key === 'serial/a');
  const second = nodes([usb, acm], [['id-a//dev/modbus0', '188:0']]);
  assert.ok(second[0]?.action === 'serialNode' && second[0].path === '/dev/ttyS9' && second[0].major === 166 && second[0].minor === 3);
  assert.deepEqual(nodes([usb, acm], [['id-a//dev/modbus0', '188:0'], ['id-a//dev/ttyS9', '166:3']]), [], 'both made');
  assert.deepEqual(nodes([]), [], 'unplugged, no node made: nothing to do');
  const replug = nodes([{ ...usb, minor: 1, path: '/dev/ttyUSB1' }], [['id-a//dev/modbus0', '188:0']]);
  assert.ok(replug[0]?.action === 'serialNode' && replug[0].minor === 1, 're-plugged as another minor: made again');
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s, 'exited'), facts({ serialDevices: [usb] })).filter((x) => x.action === 'serialNode'), [], 'not running: nothing');
  // Unplugged with its node made: the node goes (a later device of that number is not reachable through it).
  const gone = plan({ a: rec(s) }, convergedWorld(s), facts({ serialDevices: [acm], serialNodes: new Map([['id-a//dev/modbus0', '188:0'], ['id-a//dev/ttyS9', '166:3']]) }));
  assert.deepEqual(gone.map((x) => [x.key, x.action, 'path' in x && x.path]), [['serial/a', 'serialNodeRemove', '/dev/modbus0']]);
  // A major outside ORCH_SERIAL_MAJORS is never made.
  assert.deepEqual(plan({ a: rec(s) }, convergedWorld(s), facts({ serialDevices: [acm], serialMajors: [188] })), []);
});

test('serial grants: only the matched devices; one matched after create is granted live on cgroup v1, re-creates on cgroup v2', () => {
  const s: RuntimeSpec = { ...spec('a'), serialConfigs: [{ name: 'rtu', deviceId: 'usb-FTDI_X-if00-port0', containerPath: '/dev/modbus0' }] };
  const usb: SerialDevice = { path: '/dev/ttyUSB0', by_id: '/dev/serial/by-id/usb-FTDI_X-if00-port0', major: 188, minor: 0, vendor_id: null, product_id: null, serial: null, subsystem: 'tty' as const, manufacturer: null, product: null };
  const world = (grants: string | undefined) => {
    const w = convergedWorld(s);
    if (grants !== undefined) w.containers[0]!.labels[LABEL.serialGrants] = grants;
    return w;
  };
  const steps = (grants: string | undefined, over: Partial<HostFacts> = {}) => plan({ a: rec(s) }, world(grants), facts({ serialDevices: [usb], ...over }));
  const node = (x: ReturnType<typeof plan>[number] | undefined) => (x?.action === 'serialNode' ? { minor: x.minor, grant: x.grant } : x?.action);
  assert.deepEqual(node(steps('188:0')[0]), { minor: 0, grant: false }, 'in the create-time rules');
  assert.deepEqual(node(steps('188:5')[0]), { minor: 0, grant: true }, 'cgroup v1: netmon grants it, no restart');
  assert.deepEqual(node(steps('')[0]), { minor: 0, grant: true }, 'created while unplugged');
  assert.deepEqual(node(steps(undefined)[0]), { minor: 0, grant: false }, 'an earlier agent granted whole majors');
  const v2 = steps('188:5', { liveDeviceGrants: false });
  assert.deepEqual(v2.map((x) => [x.key, x.action]), [['runtime/a', 'removeContainer']], 'cgroup v2: re-created with the new rule, no node before');
  assert.match(v2[0]!.reason, /188:0 .*cgroup v2/);
  assert.deepEqual(steps('188:0', { liveDeviceGrants: false }).map((x) => x.action), ['serialNode'], 'cgroup v2, granted at create: no re-create');
  assert.deepEqual(steps('188:5', { liveDeviceGrants: false, imagesPresent: new Set() }).map((x) => x.action), ['wait', 'pullImage'], 'the image is local before the container goes');
  assert.deepEqual(steps('188:5', { liveDeviceGrants: false, serialMajors: [166] }), [], 'a major never granted re-creates nothing');
});

test('a vNIC on a Wi-Fi parent gets no MACVLAN network: the container is made on its internal network, then netmon builds the proxy-ARP path', () => {
  const wlan = { interface: 'wlan0', index: 3, operstate: 'up', type: 'wifi' as const, mac_address: '02:00:00:00:aa:01', ipv4_addresses: [{ address: '192.0.2.5', prefixlen: 24, subnet: '192.0.2.0/24', network_address: '192.0.2.0' }], gateway: '192.0.2.1' };
  const s: RuntimeSpec = { name: 'w', runtimeVersion: 'latest', vnics: [{ name: 'eth1', parentInterface: 'wlan0', mode: 'static', ip: '192.0.2.80', dns: [] }] };
  const f = (over: Partial<HostFacts> = {}) => facts({ hostKnown: true, interfaces: [wlan], ...over });
  assert.deepEqual(plan({ w: rec(s) }, empty(), f()).map((x) => [x.key, x.action]), [['runtime/w', 'createContainer']], 'no MACVLAN network on a Wi-Fi parent');
  const c: ObservedContainer = { id: 'id-w', name: 'w', image: 'img:latest', state: 'running', status: '', labels: { ...labelsFor('runtime', 'w'), [LABEL.specHash]: specHash(s) }, networks: { w_internal: { ip: null, mac: null } } };
  const world: Observed = {
    containers: [c],
    networks: [{ id: 'n2', name: 'w_internal', labels: labelsFor('internal-network', 'w'), driver: 'bridge', parent: null, subnet: null }],
    volumes: [{ name: 'w_data', labels: labelsFor('runtime-data', 'w') }],
  };
  const [step] = plan({ w: rec(s) }, world, f());
  assert.deepEqual(step, { key: 'runtime/w', device: 'w', action: 'wifiPath', containerId: 'id-w', vnic: 'eth1', parent: 'wlan0', parentIndex: 3, ip: '192.0.2.80', prefix: 24, gateway: '192.0.2.1', reason: 'proxy-ARP path for 192.0.2.80 on Wi-Fi parent wlan0' });
  assert.deepEqual(plan({ w: rec(s) }, world, f({ wifiPaths: new Map([['id-w/eth1', 'wlan0#3|192.0.2.80/24|192.0.2.1']]) })), [], 'built for this namespace');
  // A new namespace (the executor forgot the path on start), a new gateway or a replaced parent builds it again.
  assert.equal(plan({ w: rec(s) }, world, f({ wifiPaths: new Map([['id-w/eth1', 'wlan0#3|192.0.2.80/24|192.0.2.254']]) }))[0]?.action, 'wifiPath');
  assert.equal(plan({ w: rec(s) }, world, f({ interfaces: [{ ...wlan, index: 9 }], wifiPaths: new Map([['id-w/eth1', 'wlan0#3|192.0.2.80/24|192.0.2.1']]) }))[0]?.action, 'wifiPath');
  // A Wi-Fi parent that is down or gone is told, as a MACVLAN parent is; a renumbered LAN the static address no longer fits waits.
  const [down] = plan({ w: rec(s) }, world, f({ interfaces: [{ ...wlan, status: 'down' as const }] }));
  assert.ok(down?.action === 'wait' && down.reason.startsWith('ParentDown:'), JSON.stringify(down));
  const moved = { ...wlan, ipv4_addresses: [{ address: '198.51.100.5', prefixlen: 24, subnet: '198.51.100.0/24', network_address: '198.51.100.0' }], gateway: '198.51.100.1' };
  const [outside] = plan({ w: rec(s) }, world, f({ interfaces: [moved] }));
  assert.ok(outside?.action === 'wait' && outside.reason.startsWith('AddressOutsideSubnet:'), JSON.stringify(outside));
  const d: RuntimeSpec = { ...s, vnics: [{ name: 'eth1', parentInterface: 'wlan0', mode: 'dhcp', dns: [] }] };
  const dc = { ...c, labels: { ...c.labels, [LABEL.specHash]: specHash(d) } };
  const dw = { ...world, containers: [dc] };
  assert.deepEqual(plan({ w: rec(d) }, dw, f({ dhcpRunning: () => false })).map((x) => [x.action, x.action === 'wifiDhcpStart' && x.parent]), [['wifiDhcpStart', 'wlan0']]);
  assert.deepEqual(plan({ w: rec(d) }, dw, f({ dhcpRunning: () => true })), []);
  // Before netmon reported, a wlan* name alone keeps MACVLAN away from a Wi-Fi parent.
  const early = plan({ w: rec({ ...s, vnics: [{ ...s.vnics[0]!, subnet: '192.0.2.0/24' }] }) }, empty(), facts({ hostKnown: false }));
  assert.ok(!early.some((x) => x.action === 'createMacvlanNetwork'), JSON.stringify(early));
});

test('issue #22: a runtime named after the agent, netmon or another role never removes that container; it waits with NameTaken', () => {
  for (const [name, role] of [['orchestrator_agent', 'orchestrator-agent'], ['autonomy_netmon', 'netmon'], ['plc-x', 'netmon']] as const) {
    const s = { ...spec(name), runtimeVersion: 'v2' }; // a spec that differs from whatever the container is
    const world = convergedWorld(spec(name));
    world.containers[0]!.labels = { ...labelsFor(role), [LABEL.specHash]: specHash(spec(name)) };
    for (const r of [rec(s), rec(s, { deletion: { requestedAt: 'x' } })]) {
      const steps = plan({ [name]: r }, world, facts());
      assert.ok(!steps.some((x) => 'containerId' in x && x.containerId === world.containers[0]!.id), `${name}: ${JSON.stringify(steps)}`);
    }
    const [step] = plan({ [name]: rec(s) }, world, facts());
    assert.equal(step?.action, 'wait', name);
    assert.match(step.reason, /^NameTaken: /, name);
  }
  // The agent's own container, whatever labels it wears, is never a runtime.
  const s = { ...spec('a'), runtimeVersion: 'v2' };
  const w = convergedWorld(spec('a'));
  assert.match(plan({ a: rec(s) }, w, facts({ selfContainerId: 'id-a' }))[0]!.reason, /^NameTaken: the agent's own container/);
});

test("a Python agent's container is adopted only once netmon can read its namespace (the MACs the LAN knows it by)", () => {
  const s = spec('a');
  const w = convergedWorld(s);
  w.containers[0]!.labels = {};
  const r = rec(s, { adoption: 'pending' });
  const [waiting] = plan({ a: r }, w, facts({ netmonReady: false }));
  assert.equal(waiting?.action, 'wait');
  assert.match(waiting.reason, /^WaitingForNetmon: /);
  assert.equal(plan({ a: r }, w, facts())[0]?.action, 'adopt');
});
