// The planner's host facts for pure tests: a host where everything is known and ready, `over` says what differs.
import type { HostFacts } from '../../src/reconcilers/planner.js';

export const hostFacts = (over: Partial<HostFacts> = {}): HostFacts => ({
  interfaces: [],
  now: Date.parse('2026-01-01T00:00:00Z'),
  mono: 1000,
  crashWaits: new Map(),
  runtimeImage: 'img',
  selfContainerId: null,
  selfNetworks: [],
  gcAllowed: true,
  uninstall: null,
  hostKnown: false,
  netmonReady: true,
  nsMacs: new Map(),
  imagesPresent: new Set(['img:latest', 'img:v2']),
  dhcpRunning: () => true,
  serialDevices: [],
  serialNodes: new Map(),
  serialMajors: [188, 166, 4],
  liveDeviceGrants: true,
  wifiPaths: new Map(),
  readiness: new Map(),
  readyTimeoutMs: 120_000,
  ...over,
});
