// A dhcp vNIC's lease goes with its endpoint (CONTRACT §9.1): before the agent disconnects a MACVLAN
// network of such a vNIC (a LAN renumbered: a new network), the lease and the endpoint's address in the
// status are cleared, so that no reader sees an address the namespace no longer has while the next pass
// has not yet rewritten the endpoints (seen in dhcp-identity's 100 ms poll on a loaded machine).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { Executor } from '../../src/reconcilers/executor.js';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/store.js';
import type { RuntimeSpec } from '../../src/domain/runtime-spec.js';
import { initialStatus, type RuntimeRecord } from '../../src/store/schema.js';

const OLD = 'macvlan_eth1_203.0.113.0_26';
const OTHER = 'macvlan_eth2_198.51.100.0_26';

test('disconnecting a dhcp vNIC\'s network clears its lease and the endpoint\'s address first; other endpoints keep theirs', async () => {
  const spec: RuntimeSpec = {
    name: 'a',
    runtimeVersion: 'latest',
    vnics: [
      { name: 'eth0', parentInterface: 'eth1', mode: 'dhcp', subnet: '203.0.113.0/26', dns: [] },
      { name: 'eth1', parentInterface: 'eth2', mode: 'static', ip: '198.51.100.5', subnet: '198.51.100.0/26', dns: [] },
    ],
  };
  const status = initialStatus();
  status.dhcp.eth0 = { event: 'bound', ip: '203.0.113.47', prefix: 26, gateway: '203.0.113.1', dns: [], leaseTime: 600, message: null, at: 'x' };
  status.endpoints = { [OLD]: { ip: '203.0.113.47', mac: '02:00:00:00:00:01' }, [OTHER]: { ip: '198.51.100.5', mac: '02:00:00:00:00:02' } };
  const rec: RuntimeRecord = { spec, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: 'x', status };
  const state = { runtimes: { a: rec }, agent: { uninstall: null }, host: { interfaces: [], serialDevices: [] } };
  const seenAtDisconnect: unknown[] = [];
  const docker = {
    getNetwork: (n: string) => ({
      disconnect: () => Promise.resolve(void seenAtDisconnect.push({ network: n, endpoints: structuredClone(rec.status.endpoints), lease: rec.status.dhcp.eth0?.event })),
    }),
  } as unknown as Docker;
  const store = { state, update: (_what: string, f: (s: typeof state) => void) => Promise.resolve(f(state)) } as unknown as Store;
  const log = { warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as Logger;
  const e = new Executor({ docker, store, log, runtimeImage: 'img', selfContainerId: null, setMac: null });
  await e.run({ key: 'runtime/a', device: 'a', action: 'disconnect', network: OLD, containerId: 'c1', reason: 'left MACVLAN network' });
  assert.deepEqual(seenAtDisconnect, [{
    network: OLD,
    endpoints: { [OLD]: { ip: null, mac: '02:00:00:00:00:01' }, [OTHER]: { ip: '198.51.100.5', mac: '02:00:00:00:00:02' } },
    lease: 'pending',
  }]);
});
