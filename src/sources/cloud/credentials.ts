// The device certificate from ORCH_MTLS_DIR: client.crt/client.key, optional ca.crt added to the system
// trust store. The agent id is the certificate's CN (CONTRACT §3).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

export class CredentialsError extends Error {}

export interface Credentials {
  cert: Buffer;
  key: Buffer;
  ca: (string | Buffer)[];
  agentId: string;
  cnError: string | null;
}

function readRequired(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CredentialsError(`cannot read ${file} (${code === 'ENOENT' ? 'missing' : code ?? (e as Error).message}): the device certificate is needed to reach the cloud (or set ORCH_CLOUD_URL=off)`);
  }
}

export function commonName(certPem: Buffer): string | null {
  const subject = new crypto.X509Certificate(certPem).subject; // "CN=agent-1\nO=..."
  const cn = subject.split('\n').find((l) => l.startsWith('CN='));
  return cn ? cn.slice(3) : null;
}

export function loadCredentials(dir: string): Credentials {
  const certFile = path.join(dir, 'client.crt');
  const cert = readRequired(certFile);
  const key = readRequired(path.join(dir, 'client.key'));
  let agentId: string;
  let cnError: string | null = null;
  try {
    agentId = commonName(cert) ?? 'UNKNOWN';
    if (agentId === 'UNKNOWN') cnError = `${certFile} has no CN: agent id is UNKNOWN`;
  } catch (e) {
    throw new CredentialsError(`${certFile} is not a PEM certificate: ${(e as Error).message}`);
  }
  try {
    crypto.createPrivateKey(key);
  } catch (e) {
    throw new CredentialsError(`${path.join(dir, 'client.key')} is not a usable private key: ${(e as Error).message}`);
  }
  const caFile = path.join(dir, 'ca.crt');
  const ca: (string | Buffer)[] = [...tls.rootCertificates];
  if (fs.existsSync(caFile)) ca.push(readRequired(caFile));
  return { cert, key, ca, agentId, cnError };
}
