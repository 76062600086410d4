// Generated malformed payloads for every topic: each one is invalid by construction (a valid base with at
// least one field corrupted, or not an object at all), with nested junk and hostile strings mixed in.

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HUGE = 'A'.repeat(1_000_000);
const nested = (depth: number): unknown => (depth === 0 ? 'x' : { a: [nested(depth - 1)], b: depth });
const MISSING = Symbol('missing');

const notObjects: unknown[] = [null, 'create', 42, [], [{}], true, -1, HUGE];
const badNames: unknown[] = [MISSING, '', ' ', 5, null, '../../etc/passwd', '$(reboot)', 'a;rm -rf /', 'a b', '-leading-dash', 'x'.repeat(64), HUGE, {}, [], true, '__orchestrator__x', 'name\n'];
const common: Record<string, unknown[]> = {
  correlation_id: [{}, [], true, 'x'.repeat(200), { $gt: 1 }],
  action: [5, {}, [], true],
  requested_at: ['yesterday', 5, '2025-13-45T99:99:99Z', {}, ''],
};

type Spec = { base: Record<string, unknown>; bad: Record<string, unknown[]> };

export function topicSpecs(parent: string): Record<string, Spec> {
  const vnic = { name: 'eth0', parent_interface: parent, network_mode: 'static', ip: '203.0.113.40', subnet: '203.0.113.0/26' };
  const device = { device_id: 'plc-fuzz' };
  return {
    create_new_runtime: {
      base: { container_name: 'fuzz-new', vnic_configs: [vnic] },
      bad: {
        container_name: badNames,
        vnic_configs: [MISSING, [], {}, 'eth0', [1], [null], [{}], Array(9).fill(vnic), [{ ...vnic, parent_interface: 'x'.repeat(16) }], [{ ...vnic, parent_interface: '../x' }],
          [{ ...vnic, network_mode: 'bridge' }], [{ ...vnic, network_mode: 5 }], [{ ...vnic, ip: '1.2.3' }], [{ ...vnic, ip: '203.0.114.1' }], [{ ...vnic, ip: undefined }],
          [{ ...vnic, mac: 'zz:zz:zz:zz:zz:zz' }], [{ ...vnic, mac: '01:00:5e:00:00:01' }], [{ ...vnic, dns: '8.8.8.8' }], [{ ...vnic, dns: [5] }], [{ ...vnic, subnet: '255.0.255.0' }],
          [{ ...vnic, gateway: '198.51.100.1' }], [vnic, vnic], [{ ...vnic, subnet: HUGE }], [nested(30)]],
        runtime_version: [5, 'a b', 'x'.repeat(200), {}, '../latest'],
        serial_configs: [[{ name: 'x' }], 'ttyUSB0'],
        dedicated_interface: ['eth1', 5],
      },
    },
    delete_device: { base: device, bad: { device_id: badNames } },
    start_device: { base: device, bad: { device_id: badNames } },
    stop_device: { base: device, bad: { device_id: badNames } },
    restart_device: { base: device, bad: { device_id: badNames } },
    run_command: {
      base: { ...device, method: 'GET', api: '/api/status' },
      bad: {
        device_id: badNames,
        method: [MISSING, 'TRACE', 'get', 5, '', HUGE],
        api: [MISSING, 'http://127.0.0.1:1/x', '//evil/x', '/api/../../x', '..', 5, 'a b', 'api#x', 'https:x', HUGE],
        port: [0, 70000, '8443', 1.5, -1, {}],
        headers: [5, 'x', { a: 5 }, [1], { a: { b: 'c' } }],
        params: [{ a: {} }, 'q=1', [1]],
        files: [{ f: {} }, { f: { content_base64: 5 } }, 'file', [1]],
      },
    },
    get_consumption_orchestrator: { base: {}, bad: { cpuPeriod: ['', '-5', 'abc', 5, '0', '5x', '1,', ',', '5,1', {}, HUGE], memoryPeriod: ['', '-1h', 'h', 3600, '0m', []] } },
    get_consumption_device: { base: { ...device }, bad: { device_id: badNames, cpuPeriod: ['', '-5', 'abc', 5, '0d'], memoryPeriod: ['', 'x', {}, 1] } },
    get_device_status: { base: device, bad: { device_id: badNames } },
    get_host_interfaces: { base: {}, bad: { include_virtual: ['true', 1, {}, 'yes'], detailed: ['false', 0, []] } },
    delete_orchestrator: { base: {}, bad: {} },
    get_agent_state: { base: {}, bad: {} },
    get_plan: { base: {}, bad: {} },
  };
}

/** At least `count` invalid payloads for one topic (as argument lists). */
export function malformed(spec: Spec, count: number, random: () => number): unknown[][] {
  const pick = <T>(a: T[]): T => a[Math.floor(random() * a.length)]!;
  const fields = { ...spec.bad, ...common };
  const out: unknown[][] = notObjects.map((p) => [p]);
  while (out.length < count) {
    const p: Record<string, unknown> = structuredClone(spec.base);
    const n = 1 + Math.floor(random() * 3);
    for (let i = 0; i < n; i++) {
      const f = pick(Object.keys(fields));
      const v = pick(fields[f]!);
      if (v === MISSING) delete p[f];
      else p[f] = v;
    }
    if (random() < 0.3) p[`junk_${Math.floor(random() * 1000)}`] = nested(Math.floor(random() * 20));
    out.push([p]);
  }
  return out;
}
