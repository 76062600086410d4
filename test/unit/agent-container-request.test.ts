// The new agent's container request from the old one (docs/updates.md): what the installer gave is kept,
// what the old image set is left to the new image.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { newAgentContainerRequest } from '../../src/update/agent-container-request.js';

const oldImage = {
  Env: ['PATH=/usr/local/bin:/usr/bin', 'NODE_ENV=production', 'AGENT_VERSION=v1.0.0'],
  Labels: { 'org.opencontainers.image.title': 'orchestrator-agent' },
  Cmd: ['run'],
  Entrypoint: ['node', 'dist/main.js'],
  WorkingDir: '/app',
  Healthcheck: { Test: ['CMD', 'node', 'dist/main.js', 'health'] },
};
const id = 'abcdef0123456789'.repeat(4);
const hostConfig = {
  Binds: ['/var/run/docker.sock:/var/run/docker.sock', '/root/.mtls:/root/.mtls:ro', 'orchestrator-shared:/var/orchestrator'],
  NetworkMode: 'bridge',
  RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
  LogConfig: { Type: 'json-file', Config: { 'max-size': '10m' } },
  Memory: 268435456,
};
const old = (config: Record<string, unknown> = {}) =>
  ({
    Id: id,
    Name: '/orchestrator_agent',
    Config: {
      Hostname: id.slice(0, 12),
      Env: [...oldImage.Env, 'ORCH_CLOUD_URL=https://cloud.example:3001', 'ORCH_LOG_LEVEL=debug'],
      Labels: { ...oldImage.Labels, 'edge.autonomy.role': 'orchestrator-agent', 'edge.autonomy.managed': 'true' },
      Cmd: ['run'],
      Entrypoint: ['node', 'dist/main.js'],
      WorkingDir: '/app',
      User: '',
      Healthcheck: oldImage.Healthcheck,
      ...config,
    },
    HostConfig: hostConfig,
  }) as unknown as Docker.ContainerInspectInfo;

test("the operator's env, labels, binds, log config and limits carry over; the old image's env and labels do not", () => {
  const r = newAgentContainerRequest(old(), oldImage, 'repo/agent:v2', 'orchestrator_agent', { Name: 'no' });
  assert.equal(r.name, 'orchestrator_agent');
  assert.equal(r.Image, 'repo/agent:v2');
  assert.deepEqual(r.Env, ['ORCH_CLOUD_URL=https://cloud.example:3001', 'ORCH_LOG_LEVEL=debug']);
  assert.deepEqual(r.Labels, { 'edge.autonomy.role': 'orchestrator-agent', 'edge.autonomy.managed': 'true' });
  for (const k of ['Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Healthcheck', 'Hostname'] as const) assert.equal(r[k], undefined, k);
  assert.deepEqual(r.HostConfig, { ...hostConfig, RestartPolicy: { Name: 'no' } });
});

test('a chosen hostname, command, user and a changed env value of the image are kept', () => {
  const r = newAgentContainerRequest(
    old({ Hostname: 'edge-box-7', Cmd: ['run', '--verbose'], User: '1000', Env: ['PATH=/usr/local/bin:/usr/bin', 'NODE_ENV=development'] }),
    oldImage,
    'repo/agent:v2',
    'orchestrator_agent',
    { Name: 'unless-stopped' },
  );
  assert.equal(r.Hostname, 'edge-box-7');
  assert.deepEqual(r.Cmd, ['run', '--verbose']);
  assert.equal(r.User, '1000');
  assert.deepEqual(r.Env, ['NODE_ENV=development']);
  assert.deepEqual(r.HostConfig?.RestartPolicy, { Name: 'unless-stopped' });
});
