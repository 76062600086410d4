// Host and container readings without systeminformation or the engine's stats API: /proc and cgroup
// files parsed, and the container sampler on a fake cgroup tree (v1 and v2) and a fake engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { API_EVERY_MS, cgroupFromProc, ContainerSampler, cpuNsFromV2, memoryFromStat } from '../../src/telemetry/container-stats.js';
import { cpuTimes, HostMetrics, memInfo, realMounts } from '../../src/telemetry/host-metrics.js';

test('/proc/stat: busy and total jiffies of the aggregate line (iowait idle, guest already in user)', () => {
  const stat = 'cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\nintr 1 2 3\n';
  assert.deepEqual(cpuTimes(stat), { busy: 100 + 5 + 50 + 3 + 2 + 1, total: 161 + 1000 + 20 });
  assert.equal(cpuTimes('intr 1\n'), null);
});

test('/proc/meminfo: total and total − available, bytes', () => {
  const m = memInfo('MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n');
  assert.deepEqual(m, { total: 1000 * 1024, used: 600 * 1024 });
});

test('mounts: real block filesystems once per device; virtual ones and overlays left out', () => {
  const text = ['/dev/vda / ext4 rw 0 0', 'proc /proc proc rw 0 0', 'tmpfs /tmp tmpfs rw 0 0', 'overlay /var/lib/docker/x overlay rw 0 0', '/dev/vda /var/lib/docker ext4 rw 0 0', '/dev/vdb /data\\040disk xfs rw 0 0'].join('\n');
  assert.deepEqual(realMounts(text), ['/', '/data disk']);
});

test('HostMetrics: a CPU % from the delta between samples, memory and disk figures, static facts', async () => {
  const h = new HostMetrics();
  const a = await h.sample();
  await new Promise((r) => setTimeout(r, 50));
  const b = await h.sample();
  for (const s of [a, b]) {
    assert.ok(s.cpuPercent >= 0 && s.cpuPercent <= 100);
    assert.ok(s.memTotalBytes > 0 && s.memUsedBytes > 0 && s.memUsedBytes < s.memTotalBytes);
    assert.ok(s.diskTotalBytes > 0 && s.diskUsedBytes > 0 && s.diskUsedBytes <= s.diskTotalBytes);
  }
  const f = await h.staticFacts();
  assert.equal(f.cpus, os.cpus().length);
  assert.equal(f.kernel, os.release());
  assert.ok(f.os.length > 0);
});

test('cgroup paths from /proc/<pid>/cgroup, only when they name the container', () => {
  const id = 'abc123';
  const v1 = `12:memory:/docker/${id}\n4:cpu,cpuacct:/docker/${id}\n1:name=systemd:/docker/${id}\n`;
  assert.deepEqual(cgroupFromProc(v1, id, '/sys/fs/cgroup', false), { v: 1, cpuacct: `/sys/fs/cgroup/cpuacct/docker/${id}`, memory: `/sys/fs/cgroup/memory/docker/${id}` });
  assert.equal(cgroupFromProc(v1, 'other', '/sys/fs/cgroup', false), null, 'a pid that is not the container (other pid namespace)');
  assert.deepEqual(cgroupFromProc(`0::/system.slice/docker-${id}.scope\n`, id, '/sys/fs/cgroup', true), { v: 2, dir: `/sys/fs/cgroup/system.slice/docker-${id}.scope` });
  assert.equal(cgroupFromProc('0::/\n', id, '/sys/fs/cgroup', true), null);
});

test('memory = usage − inactive file cache; v2 CPU in ns', () => {
  assert.equal(memoryFromStat(1000, 'cache 500\ntotal_inactive_file 300\ninactive_file 200\n', 1), 700);
  assert.equal(memoryFromStat(1000, 'anon 10\ninactive_file 200\n', 2), 800);
  assert.equal(memoryFromStat(100, 'inactive_file 200\n', 2), 0);
  assert.equal(cpuNsFromV2('usage_usec 1500\nuser_usec 1000\n'), 1_500_000);
});

function fakeDocker(info: object, calls: string[], stats: () => object): Docker {
  return {
    getContainer: (name: string) => ({
      inspect: () => (calls.push(`inspect ${name}`), Promise.resolve(info)),
      stats: (o: object) => (calls.push(`stats ${name} ${JSON.stringify(o)}`), Promise.resolve(stats())),
    }),
  } as unknown as Docker;
}

test('ContainerSampler: cgroup v1 files read each round, no stats call; CPU from the delta', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-cg-'));
  try {
    const id = 'f00d';
    const cpu = path.join(root, 'cpuacct/docker', id);
    const mem = path.join(root, 'memory/docker', id);
    fs.mkdirSync(cpu, { recursive: true });
    fs.mkdirSync(mem, { recursive: true });
    fs.writeFileSync(path.join(cpu, 'cpuacct.usage'), '1000000000\n');
    fs.writeFileSync(path.join(mem, 'memory.usage_in_bytes'), `${30 * 2 ** 20}\n`);
    fs.writeFileSync(path.join(mem, 'memory.stat'), `total_inactive_file ${10 * 2 ** 20}\n`);
    const calls: string[] = [];
    const s = new ContainerSampler(fakeDocker({ Id: id, State: { Pid: 0 }, HostConfig: {} }, calls, () => ({})), root, path.join(root, 'no-proc'));
    assert.equal(await s.sample('plc'), null, 'the first reading is the baseline');
    assert.equal(s.mode('plc'), 'cgroup v1');
    await new Promise((r) => setTimeout(r, 100));
    fs.writeFileSync(path.join(cpu, 'cpuacct.usage'), '1050000000\n'); // +50 ms of CPU in ~100 ms
    const u = (await s.sample('plc'))!;
    assert.ok(u.cpuPercent > 20 && u.cpuPercent <= 50, String(u.cpuPercent));
    assert.equal(u.memoryMb, 20);
    assert.deepEqual(calls, ['inspect plc'], 'located once, then files only');
    fs.rmSync(cpu, { recursive: true });
    assert.equal(await s.sample('plc'), null, 'gone: no sample, found again next round');
    assert.equal(s.mode('plc'), undefined);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('ContainerSampler: cgroup v2 through /proc/<pid>/cgroup', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-cg-'));
  try {
    const id = 'beef';
    const dir = path.join(root, 'cg/system.slice', `docker-${id}.scope`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(root, 'cg/cgroup.controllers'), 'cpu memory\n');
    fs.writeFileSync(path.join(dir, 'cpu.stat'), 'usage_usec 0\n');
    fs.writeFileSync(path.join(dir, 'memory.current'), `${8 * 2 ** 20}\n`);
    fs.writeFileSync(path.join(dir, 'memory.stat'), `inactive_file ${2 ** 20}\n`);
    fs.mkdirSync(path.join(root, 'proc/42'), { recursive: true });
    fs.writeFileSync(path.join(root, 'proc/42/cgroup'), `0::/system.slice/docker-${id}.scope\n`);
    const s = new ContainerSampler(fakeDocker({ Id: id, State: { Pid: 42 }, HostConfig: {} }, [], () => ({})), path.join(root, 'cg'), path.join(root, 'proc'));
    assert.equal(await s.sample('plc'), null);
    assert.equal(s.mode('plc'), 'cgroup v2');
    const u = (await s.sample('plc'))!;
    assert.equal(u.memoryMb, 7);
    assert.equal(u.cpuPercent, 0);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('ContainerSampler: no cgroup visible → the engine, first a normal call, then one-shot once per 30 s', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-cg-'));
  try {
    const calls: string[] = [];
    let n = 0;
    const stats = () => {
      n++;
      return {
        cpu_stats: { cpu_usage: { total_usage: n * 1e9 }, system_cpu_usage: n * 4e9, online_cpus: 2 },
        precpu_stats: { cpu_usage: { total_usage: (n - 0.5) * 1e9 }, system_cpu_usage: (n - 0.5) * 4e9 },
        memory_stats: { usage: 50 * 2 ** 20, stats: { total_inactive_file: 10 * 2 ** 20 } },
      };
    };
    const s = new ContainerSampler(fakeDocker({ Id: 'x', State: { Pid: 0 }, HostConfig: {} }, calls, stats), root, root);
    const t = 1_000_000;
    const a = (await s.sample('plc', t))!;
    assert.equal(s.mode('plc'), 'api');
    assert.deepEqual(a, { cpuPercent: 50, memoryMb: 40 });
    assert.equal(await s.sample('plc', t + 5000), null, 'within 30 s: no call');
    const b = (await s.sample('plc', t + API_EVERY_MS))!;
    assert.equal(b.cpuPercent, 50, 'delta against our previous reading');
    assert.deepEqual(calls, ['inspect plc', 'stats plc {"stream":false,"one-shot":false}', 'stats plc {"stream":false,"one-shot":true}']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
