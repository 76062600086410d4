// src/docker/dockerode.ts: loading the agent's Docker client leaves ssh2 and the BuildKit session's
// gRPC/protobuf packages unloaded, and the deferred modules still work when called. In a fresh process:
// this test runner's own process may have loaded dockerode already.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');

function run(script: string): { before: string[]; after: string[]; ping?: string } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { before: string[]; after: string[] };
}

const prelude = `
import { createRequire } from 'node:module';
import path from 'node:path';
const { dockerFromHost } = await import('./src/docker/client.ts');
const req = createRequire(path.resolve('package.json'));
const heavy = () => Object.keys(req.cache).filter((k) => /node_modules\\/(ssh2|@grpc|protobufjs|cpu-features)\\//.test(k)).map((k) => k.split('node_modules/').pop().split('/').slice(0, 2).join('/'));
const docker = dockerFromHost('unix:///nonexistent/docker.sock', 1000);
const before = [...new Set(heavy())];
`;

test('the agent loads dockerode without ssh2, @grpc/grpc-js or protobufjs', () => {
  const r = run(`${prelude}
const err = await docker.ping().then(() => 'answered', (e) => e.code);
console.log(JSON.stringify({ before, after: [...new Set(heavy())], ping: err }));`);
  assert.deepEqual(r.before, [], 'none of them is loaded with the client');
  assert.equal(r.ping, 'ENOENT', 'the client still makes calls (to a socket that does not exist)');
  assert.deepEqual(r.after, [], 'a call over the unix socket loads none of them');
});

test('the deferred modules load for real on their first call (ssh:// transport, BuildKit session)', () => {
  const r = run(`${prelude}
const dockerodeDir = path.dirname(req.resolve('dockerode'));
const ssh = createRequire(req.resolve('dockerode'))('docker-modem/lib/ssh.js');
const agent = ssh({ host: '127.0.0.1' });
const session = req(path.join(dockerodeDir, 'session.js'));
console.log(JSON.stringify({ before, after: [...new Set(heavy())].sort(), ping: typeof agent.createConnection + ' ' + typeof session }));`);
  assert.deepEqual(r.before, []);
  assert.equal(r.ping, 'function function');
  assert.ok(r.after.includes('ssh2/lib'), `ssh2 loaded on the first ssh() call: ${r.after.join(', ')}`);
});
