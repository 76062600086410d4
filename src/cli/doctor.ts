// `orchestrator-agent doctor`: what an operator checks first on a box, each line OK / WARN / FAIL with
// the reason. Exit 1 when something the agent cannot work without is broken.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config.js';
import { apiVersion, dockerFromHost } from '../docker/client.js';
import { CredentialsError, loadCredentials } from '../sources/cloud/credentials.js';
import { migrate, NewerSchemaError } from '../store/migrations.js';
import { stateSchema } from '../store/schema.js';

type Level = 'OK' | 'WARN' | 'FAIL';
export interface Check {
  level: Level;
  what: string;
  detail: string;
}

const reachable = (socket: string) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(socket);
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

export async function doctor(config: Config): Promise<Check[]> {
  const out: Check[] = [];
  const add = (level: Level, what: string, detail: string) => out.push({ level, what, detail });

  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    const probe = path.join(config.dataDir, '.doctor-probe');
    fs.writeFileSync(probe, 'x');
    fs.rmSync(probe);
    add('OK', 'data dir', `${config.dataDir} is writable`);
  } catch (e) {
    add('FAIL', 'data dir', `${config.dataDir}: ${(e as Error).message}`);
  }

  if (fs.existsSync(config.stateFile)) {
    try {
      const s = stateSchema.parse(migrate(JSON.parse(fs.readFileSync(config.stateFile, 'utf8'))));
      add('OK', 'state file', `${config.stateFile}: ${Object.keys(s.runtimes).length} runtime(s)`);
    } catch (e) {
      if (e instanceof NewerSchemaError) {
        add('FAIL', 'state file', `${e.message}: the agent refuses every request and changes nothing; upgrade the agent (or restore a state file of this version)`);
      } else add('FAIL', 'state file', `${config.stateFile} is not valid (${(e as Error).message.slice(0, 120)}); the agent would start from state.json.bak`);
    }
  } else add('WARN', 'state file', `${config.stateFile} does not exist yet (first start)`);

  const agentUp = await reachable(config.controlSocket);
  add(agentUp ? 'OK' : 'WARN', 'agent', agentUp ? `running (${config.controlSocket})` : `not running (no answer on ${config.controlSocket})`);

  try {
    const docker = dockerFromHost(config.dockerHost);
    const [maj, min] = await apiVersion(docker);
    add('OK', 'docker', `${config.dockerHost}: API ${maj}.${min} (${maj > 1 || min >= 44 ? 'all endpoints at create' : 'one network at create, the rest connected before start'})`);
  } catch (e) {
    add('FAIL', 'docker', `${config.dockerHost}: ${(e as Error).message}`);
  }

  const netmonUp = await reachable(config.netmonSocket);
  add(netmonUp ? 'OK' : 'WARN', 'netmon', netmonUp ? `answering on ${config.netmonSocket}` : `no netmon on ${config.netmonSocket}: subnets cannot follow the host, MACs cannot be fixed`);

  if (config.cloudUrl === null) add('OK', 'cloud', 'standalone (ORCH_CLOUD_URL=off)');
  else {
    try {
      const c = loadCredentials(config.mtlsDir);
      const cert = new crypto.X509Certificate(c.cert);
      const days = Math.floor((Date.parse(cert.validTo) - Date.now()) / 86_400_000);
      add(days < 0 ? 'FAIL' : days < 30 ? 'WARN' : 'OK', 'certificate', `agent id ${c.agentId}; valid until ${cert.validTo} (${days} days)`);
      add('OK', 'cloud', `${config.cloudUrl} over ${config.cloudTransports.join(', ')}`);
    } catch (e) {
      add('FAIL', 'certificate', e instanceof CredentialsError ? e.message : (e as Error).message);
    }
  }
  return out;
}
