// Docker call latency (issue #23): bounded operation labels and a labelled histogram per operation/result.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerCallLatency, operationOf } from '../../src/metrics/docker-calls.js';
import { Docker } from '../../src/docker/dockerode.js';
import { formatFamilies } from '../../src/metrics/exposition.js';

test('operations name the API path with names and ids as {id}, never a container', () => {
  assert.equal(operationOf('get', '/containers/plc-1/json?'), 'GET /containers/{id}/json');
  assert.equal(operationOf('GET', '/v1.41/containers/json?all=1'), 'GET /containers/json');
  assert.equal(operationOf('POST', '/containers/create?name=plc-1'), 'POST /containers/create');
  assert.equal(operationOf('DELETE', '/containers/plc-1?force=true'), 'DELETE /containers/{id}');
  assert.equal(operationOf('GET', '/images/ghcr.io/autonomy-logic/openplc-runtime:latest/json'), 'GET /images/{id}/json');
  assert.equal(operationOf('POST', '/networks/plc-1_internal/connect'), 'POST /networks/{id}/connect');
  assert.equal(operationOf('GET', '/networks/plc-1_internal'), 'GET /networks/{id}');
  assert.equal(operationOf('GET', '/events?filters=x'), 'GET /events');
  assert.equal(operationOf('GET', '/system/df'), 'GET /system/df');
  assert.equal(operationOf('GET', '/_ping'), 'GET /_ping');
});

test('every request of an instrumented client is timed once, by operation and result; the exposition labels each series', async () => {
  const lat = new DockerCallLatency();
  const docker = new Docker({ socketPath: '/nonexistent/docker.sock' });
  lat.instrument(docker);
  await assert.rejects(docker.getContainer('plc-a').inspect());
  await assert.rejects(docker.getContainer('plc-b').inspect());
  await assert.rejects(docker.listContainers());
  lat.observe('GET /containers/{id}/json', 'ok', 0.003);
  const series = lat.series().map((s) => [s.labels.operation, s.labels.result, s.histogram.count]);
  assert.deepEqual(series, [
    ['GET /containers/{id}/json', 'ok', 1],
    ['GET /containers/{id}/json', 'error', 2],
    ['GET /containers/json', 'error', 1],
  ]);
  const text = formatFamilies([{ name: 'orch_docker_request_duration_seconds', help: 'h', type: 'histogram', series: lat.series() }]);
  assert.match(text, /^orch_docker_request_duration_seconds_bucket\{operation="GET \/containers\/\{id\}\/json",result="ok",le="0\.005"\} 1$/m);
  assert.match(text, /^orch_docker_request_duration_seconds_bucket\{operation="GET \/containers\/\{id\}\/json",result="error",le="\+Inf"\} 2$/m);
  assert.match(text, /^orch_docker_request_duration_seconds_count\{operation="GET \/containers\/json",result="error"\} 1$/m);
  assert.doesNotMatch(text, /plc-a|plc-b/);
});
