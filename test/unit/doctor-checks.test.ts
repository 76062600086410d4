// doctor's checks one by one: the certificate (CN, key), the data dir (never created), the clock, DNS and
// TCP to the cloud (a local listener only), the macvlan driver, the vNIC parents, and the agent's disk
// guard shown standalone too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, test } from 'node:test';
import { doctor } from '../../src/cli/doctor.js';
import { certificateCheck } from '../../src/cli/doctor-certificate.js';
import { clockCheck, TIMESYNCD_MARKER, type ClockProbe } from '../../src/cli/doctor-clock.js';
import { cloudReachChecks } from '../../src/cli/doctor-cloud-reach.js';
import { dataDirCheck } from '../../src/cli/doctor-data-dir.js';
import { macvlanCheck, vnicParentsCheck } from '../../src/cli/doctor-host.js';
import { loadConfig } from '../../src/config.js';
import { emptyState, type State } from '../../src/store/schema.js';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-doctor-checks-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const openssl = (cwd: string, args: string[]) => execFileSync('openssl', args, { cwd, stdio: 'ignore' });
const selfSigned = (dir: string, subj: string, key = 'client.key') =>
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', 'client.crt', '-days', '365', '-subj', subj]);

test('certificate: OK with a CN and its own key; FAIL without a CN; FAIL when the key is another one', () => {
  const now = Date.now();
  const ok = tmp();
  selfSigned(ok, '/CN=box-1');
  const good = certificateCheck({ mtlsDir: ok, renewedMtlsDir: null, renewal: false }, now).check;
  assert.equal(good.level, 'OK', good.detail);
  assert.match(good.detail, /^agent id box-1; valid until /);

  const nocn = tmp();
  selfSigned(nocn, '/O=no-common-name');
  const c = certificateCheck({ mtlsDir: nocn, renewedMtlsDir: null, renewal: false }, now).check;
  assert.equal(c.level, 'FAIL');
  assert.match(c.detail, /client\.crt has no CN: agent id is UNKNOWN/);
  assert.match(c.hint!, /CN=<agent id>/);

  const mismatch = tmp();
  selfSigned(mismatch, '/CN=box-1', 'first.key');
  openssl(mismatch, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'client.key']);
  const m = certificateCheck({ mtlsDir: mismatch, renewedMtlsDir: null, renewal: false }, now).check;
  assert.equal(m.level, 'FAIL');
  assert.match(m.detail, /client\.key is not the private key of .*client\.crt/);
  // A key of another type (RSA against an EC certificate) does not match either.
  openssl(mismatch, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'client.key']);
  assert.equal(certificateCheck({ mtlsDir: mismatch, renewedMtlsDir: null, renewal: false }, now).check.level, 'FAIL');
});

test('data dir: a missing one is a FAIL and is not created; ENOTDIR and a file get the path hint', () => {
  const base = tmp();
  const missing = path.join(base, 'orchestrtor'); // mistyped
  const m = dataDirCheck(missing);
  assert.deepEqual([m.level, m.detail], ['FAIL', `${missing} does not exist`]);
  assert.match(m.hint!, /mistyped/);
  assert.equal(fs.existsSync(missing), false);
  fs.writeFileSync(path.join(base, 'file'), 'x');
  const under = dataDirCheck(path.join(base, 'file', 'data'));
  assert.equal(under.level, 'FAIL');
  assert.match(under.hint!, /a part of ORCH_DATA_DIR is a file/);
  const file = dataDirCheck(path.join(base, 'file'));
  assert.deepEqual([file.level, file.detail], ['FAIL', `${path.join(base, 'file')} is not a directory`]);
  assert.deepEqual([dataDirCheck(base).level, fs.readdirSync(base)], ['OK', ['file']]); // the probe is gone
});

test('doctor as a whole creates no missing data dir (a mistyped ORCH_DATA_DIR reads FAIL, not OK); no state file: no vNIC to check', async () => {
  const missing = path.join(tmp(), 'nope');
  const checks = await doctor(loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: missing, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }));
  assert.equal(checks.find((c) => c.what === 'data dir')?.level, 'FAIL');
  assert.equal(fs.existsSync(missing), false);
  // No state file yet: nothing declared, so no vNIC parent to miss.
  assert.deepEqual(checks.filter((c) => c.what === 'vnic parents').map((c) => [c.level, c.detail]), [['OK', 'no runtime declared']]);
});

test('clock: timedatectl first, then timesyncd\'s marker, then chronyc; none of them is unknown (WARN)', () => {
  const probe = (out: Record<string, string>, files: string[] = []): ClockProbe => ({ run: (cmd) => out[cmd] ?? null, exists: (f) => files.includes(f) });
  assert.equal(clockCheck(probe({ timedatectl: 'yes\n' })).level, 'OK');
  const no = clockCheck(probe({ timedatectl: 'no\n' }));
  assert.deepEqual([no.level, no.detail], ['WARN', 'not synchronized (timedatectl: NTPSynchronized=no)']);
  assert.match(no.hint!, /set-ntp true/);
  assert.equal(clockCheck(probe({}, [TIMESYNCD_MARKER])).level, 'OK');
  assert.equal(clockCheck(probe({ chronyc: 'Reference ID    : 7F7F0101 ()\nLeap status     : Normal\n' })).level, 'OK');
  assert.match(clockCheck(probe({ chronyc: 'Leap status     : Not synchronised\n' })).detail, /leap status Not synchronised/);
  const unknown = clockCheck(probe({}));
  assert.equal(unknown.level, 'WARN');
  assert.match(unknown.detail, /synchronization unknown/);
});

test('cloud dns and tcp: a name resolving to a local listener is OK; a closed port and a failed lookup are FAILs', async () => {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const lookup = (host: string) => (host === 'cloud.test' ? Promise.resolve(['127.0.0.1']) : Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`)));
    const [d, t] = await cloudReachChecks(`wss://cloud.test:${port}`, lookup);
    assert.deepEqual([d?.level, d?.detail], ['OK', 'cloud.test → 127.0.0.1']);
    assert.deepEqual([t?.level, t?.detail], ['OK', `cloud.test:${port} (127.0.0.1) accepts a connection`]);
    const bad = await cloudReachChecks('https://elsewhere.test', lookup);
    assert.deepEqual(bad.map((c) => [c.what, c.level]), [['cloud dns', 'FAIL'], ['cloud tcp', 'WARN']]);
    assert.match(bad[0]!.detail, /elsewhere\.test does not resolve: .*ENOTFOUND/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // The port is closed now: refused.
  const closed = await cloudReachChecks(`https://127.0.0.1:${port}`);
  assert.deepEqual(closed.map((c) => [c.what, c.level]), [['cloud dns', 'OK'], ['cloud tcp', 'FAIL']]);
  assert.match(closed[1]!.detail, /ECONNREFUSED/);
  assert.match(closed[1]!.hint!, /firewall/);
});

test('macvlan: loaded, built in, a module not loaded (WARN with modprobe), absent from the kernel (FAIL)', () => {
  const d = tmp();
  const files = { procModules: path.join(d, 'modules'), procConfigGz: path.join(d, 'config.gz'), modulesBuiltin: path.join(d, 'modules.builtin') };
  const config = (line: string) => fs.writeFileSync(files.procConfigGz, zlib.gzipSync(`CONFIG_FOO=y\n${line}\n`));
  const unknown = macvlanCheck(files);
  assert.equal(unknown.level, 'WARN');
  assert.match(unknown.hint!, /modprobe macvlan/);
  fs.writeFileSync(files.procModules, 'veth 40960 0 - Live 0x0\nmacvlan 36864 0 - Live 0x0\n');
  assert.equal(macvlanCheck(files).level, 'OK');
  fs.writeFileSync(files.procModules, 'veth 40960 0 - Live 0x0\n');
  config('CONFIG_MACVLAN=m');
  assert.deepEqual([macvlanCheck(files).level, macvlanCheck(files).detail], ['WARN', 'the macvlan module is not loaded (CONFIG_MACVLAN=m)']);
  config('CONFIG_MACVLAN=y');
  assert.deepEqual([macvlanCheck(files).level, macvlanCheck(files).detail], ['OK', 'built into the kernel']);
  config('# CONFIG_MACVLAN is not set');
  assert.equal(macvlanCheck(files).level, 'FAIL');
  fs.rmSync(files.procConfigGz);
  fs.writeFileSync(files.modulesBuiltin, 'kernel/drivers/net/dummy.ko\nkernel/drivers/net/macvlan.ko\n');
  assert.equal(macvlanCheck(files).level, 'OK');
});

function stateWith(parents: string[], interfaces: Array<{ name: string; operstate?: string; status?: 'down' | 'removed' }>, observedAt: string | null = '2026-12-03T10:00:00.000Z'): State {
  const s = emptyState();
  parents.forEach((p, i) => {
    const spec = { name: `plc-${i}`, runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: p, mode: 'dhcp' as const, dns: [] }] };
    s.runtimes[spec.name] = { spec, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: observedAt ?? '', status: null } as unknown as State['runtimes'][string];
  });
  s.host = { ...s.host, observedAt, stale: false, interfaces: interfaces.map((i) => ({ interface: i.name, operstate: i.operstate ?? 'up', type: 'ethernet' as const, mac_address: null, ipv4_addresses: [], gateway: null, ...(i.status ? { status: i.status } : {}) })) };
  return s;
}

test('vnic parents: each declared parent among the interfaces netmon reported; missing is a FAIL naming the runtimes, down a WARN', () => {
  assert.equal(vnicParentsCheck(stateWith([], [])).level, 'OK');
  assert.equal(vnicParentsCheck(stateWith(['eth0', 'eth1'], [{ name: 'eth0' }, { name: 'eth1' }])).level, 'OK');
  const missing = vnicParentsCheck(stateWith(['eth0', 'enp9s0'], [{ name: 'eth0' }, { name: 'eth1' }]));
  assert.equal(missing.level, 'FAIL');
  assert.match(missing.detail, /^not on the host: enp9s0 \(plc-1\) /);
  assert.equal(vnicParentsCheck(stateWith(['eth1'], [{ name: 'eth1', status: 'removed' }])).level, 'FAIL');
  const down = vnicParentsCheck(stateWith(['eth1'], [{ name: 'eth1', operstate: 'down' }]));
  assert.deepEqual([down.level, down.detail.split(' (as')[0]], ['WARN', 'down: eth1 (plc-0)']);
  assert.equal(vnicParentsCheck(stateWith(['eth0'], [], null)).level, 'WARN');
  assert.equal(vnicParentsCheck(null).level, 'WARN');
});

test('standalone (ORCH_CLOUD_URL=off): the agent\'s disk-pressure line is shown too', async () => {
  const dir = tmp();
  const disk = { status: 'True', reason: 'DiskPressure', message: 'docker data root: 80 MiB free', lastTransitionTime: new Date().toISOString(), imagesRemoved: 2 };
  const server = net.createServer((s) => {
    s.once('data', () => s.end(`${JSON.stringify({ success: true, healthy: true, problems: [], lastPassAt: null, agent: { id: 'box-1', version: '9.9.9', uptime: 1 }, links: { disk } })}\n`));
  });
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'agent.sock'), resolve));
  try {
    const checks = await doctor(loadConfig({ ORCH_CLOUD_URL: 'off', ORCH_DATA_DIR: dir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }));
    const dp = checks.find((c) => c.what === 'disk-pressure');
    assert.equal(dp?.level, 'WARN', JSON.stringify(checks.map((c) => c.what)));
    assert.match(dp.detail, /^DiskPressure: docker data root: 80 MiB free; 2 unused image\(s\) removed/);
    assert.equal(checks.some((c) => c.what.startsWith('cloud ')), false); // no DNS or TCP standalone
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
