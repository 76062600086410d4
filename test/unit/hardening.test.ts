// Issue #22 item 5: the smaller holes, each closed where the input enters.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { normalizeCreateRequest } from '../../src/domain/runtime-spec.js';
import { parseCommand } from '../../src/netmon/command.js';
import { writeFileNoFollow } from '../../src/netmon/safe-write.js';
import { hostFacts } from '../support/host-facts.js';
import { plan } from '../../src/reconcilers/planner.js';
import { openRollingFile } from '../../src/rolling-file.js';
import { runCommandSchema } from '../../src/sources/cloud/topics/run-command.js';
import { initialStatus } from '../../src/store/schema.js';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-hardening-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

test('ORCH_CLOUD_URL: http:// is a configuration error naming the variable; https:// and off load', () => {
  assert.throws(() => loadConfig({ ORCH_CLOUD_URL: 'http://cloud.example:3001' }), /ORCH_CLOUD_URL: expected an https:\/\/ URL or "off", got "http:\/\/cloud\.example:3001"/);
  assert.equal(loadConfig({ ORCH_CLOUD_URL: 'https://cloud.example:3001' }).cloudUrl, 'https://cloud.example:3001');
  assert.equal(loadConfig({ ORCH_CLOUD_URL: 'off' }).cloudUrl, null);
});

test('run_command: a ".." segment is refused also percent-encoded, twice encoded, or behind a backslash', () => {
  const api = (a: string) => runCommandSchema.safeParse({ device_id: 'plc-1', method: 'GET', api: a });
  for (const a of ['/api/../x', '/api/%2e%2e/x', '/api/%2E%2E/x', '/api/.%2e/x', '/api/%2e%2e%2fx', '/api/%252e%252e/x', '/api/%2e%2e%5cx', '/api/%zz']) {
    const r = api(a);
    assert.ok(!r.success, a);
    assert.match(r.error.issues[0]!.message, /must not contain a "\.\." segment/, a);
  }
  for (const a of ['/api/ping', '/api/file%20name', '/api/a..b', '/api/v1.2/x']) assert.ok(api(a).success, a);
});

test('log files are created 0600, and an older 0644 one is narrowed', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'agent.1.log'), 'old\n', { mode: 0o644 });
  fs.chmodSync(path.join(dir, 'agent.1.log'), 0o644);
  const f = openRollingFile({ dir, name: 'agent', maxBytes: 10, files: 3, bufferBytes: 1 << 16 });
  await new Promise((r) => f.once('ready', r));
  f.write('a line longer than ten bytes\n');
  f.write('another line\n');
  await new Promise((r) => setTimeout(r, 200));
  f.end();
  await new Promise((r) => f.once('close', r));
  const files = fs.readdirSync(dir);
  assert.ok(files.length >= 2, files.join());
  for (const n of files) assert.equal(fs.statSync(path.join(dir, n)).mode & 0o777, 0o600, n);
});

test('vNIC names: only [A-Za-z0-9_.-] in a request and in a netmon command (no newline into resolv.conf)', () => {
  const req = (name: string) => normalizeCreateRequest({ container_name: 'plc-1', vnic_configs: [{ name, parent_interface: 'eth0', network_mode: 'dhcp' }] });
  const bad = req('eth0\nnameserver 203.0.113.66');
  assert.ok(!bad.ok);
  assert.match(bad.error, /^vnic_configs\[0\]\.name: expected 1 to 64 characters from A-Z a-z 0-9 _ \. -/);
  assert.ok(req('vnic_1.a-b').ok);
  const cmd = (vnic_name: string) => parseCommand({ command: 'dhcp_start', id: 1, pid: 5, mac: '02:00:00:00:00:01', container_name: 'plc-1', vnic_name });
  assert.deepEqual(cmd('a\nb'), { ok: false, error: 'vnic_name: expected 1 to 64 characters from A-Z a-z 0-9 _ . -' });
  assert.equal(cmd('eth0').ok, true);
});

test("MACVLAN parents netmon ignores (docker0, a veth, a VPN link) are refused at validation and never get a network planned", () => {
  for (const parent of ['docker0', 'br-1234', 'veth12ab', 'lo', 'wg0', 'tailscale0', 'cilium_host']) {
    const r = normalizeCreateRequest({ container_name: 'plc-1', vnic_configs: [{ parent_interface: parent, network_mode: 'static', ip: '198.51.100.5', subnet: '198.51.100.0/24' }] });
    assert.ok(!r.ok, parent);
    assert.match(r.error, /^vnic_configs\[0\]\.parent_interface: a virtual interface netmon ignores/, parent);
    const d = normalizeCreateRequest({ container_name: 'plc-1', dedicated_interface: parent, vnic_configs: [{ parent_interface: 'eth0', network_mode: 'dhcp' }] });
    assert.ok(!d.ok, parent);
  }
  // A state file (validation bypassed), netmon's facts unknown: no network on docker0, the runtime waits.
  const spec = { name: 'a', runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'docker0', mode: 'static' as const, ip: '198.51.100.5', subnet: '198.51.100.0/24', dns: [] }] };
  const rec = { spec, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status: initialStatus() };
  const steps = plan({ a: rec }, { containers: [], networks: [], volumes: [] }, hostFacts({ now: 0, mono: 0, imagesPresent: new Set(['img:latest']) }));
  assert.deepEqual(steps.map((s) => [s.action, s.reason]), [['wait', 'ParentIgnored: docker0 is a virtual interface netmon ignores, not a LAN']]);
});

test("netmon's resolv.conf write follows no link the runtime made (etc or the file a symlink), and refuses a FIFO", () => {
  const root = tmp();
  const outside = path.join(tmp(), 'host-file');
  fs.writeFileSync(outside, 'host\n');
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(path.join(root, 'etc/resolv.conf'), 'nameserver 127.0.0.11\n');
  writeFileNoFollow(root, 'etc/resolv.conf', 'nameserver 198.51.100.53\n');
  assert.equal(fs.readFileSync(path.join(root, 'etc/resolv.conf'), 'utf8'), 'nameserver 198.51.100.53\n', 'shorter content truncates');
  fs.rmSync(path.join(root, 'etc/resolv.conf'));
  fs.symlinkSync(outside, path.join(root, 'etc/resolv.conf'));
  assert.throws(() => writeFileNoFollow(root, 'etc/resolv.conf', 'nameserver 198.51.100.53\n'), /ELOOP/);
  fs.rmSync(path.join(root, 'etc'), { recursive: true });
  fs.symlinkSync(path.dirname(outside), path.join(root, 'etc'));
  fs.renameSync(outside, path.join(path.dirname(outside), 'resolv.conf'));
  assert.throws(() => writeFileNoFollow(root, 'etc/resolv.conf', 'x\n'), /ELOOP|ENOTDIR/);
  assert.equal(fs.readFileSync(path.join(path.dirname(outside), 'resolv.conf'), 'utf8'), 'host\n', 'the host file is untouched');
  fs.rmSync(path.join(root, 'etc'));
  fs.mkdirSync(path.join(root, 'etc'));
  execFileSync('mkfifo', [path.join(root, 'etc/resolv.conf')]);
  assert.throws(() => writeFileNoFollow(root, 'etc/resolv.conf', 'x\n'), /not a regular file|ENXIO/); // no reader: ENXIO at once, never a hang
});
