// The device certificate from ORCH_MTLS_DIR: client.crt/client.key, optional ca.crt added to the system
// trust store. The agent id is the certificate's CN (CONTRACT §3). A renewed pair in the data dir
// ($ORCH_DATA_DIR/mtls, written by cert-renewal.ts; ORCH_MTLS_DIR is mounted read-only) is used instead when
// it is for the same CN, belongs to its key and lasts longer.
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
  /** The certificate file in use, and its validity (ms since the epoch). */
  certFile: string;
  notBefore: number;
  notAfter: number;
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

/** A renewed pair (client.crt/client.key, or its .prev left by a renewal cut short) that may replace `base`. */
function renewedPair(dir: string, base: Credentials): Credentials | null {
  let best: Credentials | null = null;
  for (const suffix of ['', '.prev']) {
    const certFile = path.join(dir, `client.crt${suffix}`);
    try {
      const cert = fs.readFileSync(certFile);
      const key = fs.readFileSync(path.join(dir, `client.key${suffix}`));
      const x = new crypto.X509Certificate(cert);
      if (commonName(cert) !== base.agentId || !x.checkPrivateKey(crypto.createPrivateKey(key))) continue;
      const c = { ...base, cert, key, certFile, notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
      // A tie with ORCH_MTLS_DIR's (issued in the same second) goes to the renewed pair: it is the newer one.
      if (best === null ? c.notAfter >= base.notAfter : c.notAfter > best.notAfter) best = c;
    } catch {
      // missing or unusable: not a candidate
    }
  }
  return best;
}

export function loadCredentials(dir: string, renewedDir: string | null = null): Credentials {
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
  const x = new crypto.X509Certificate(cert);
  const base: Credentials = { cert, key, ca, agentId, cnError, certFile, notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
  return (renewedDir !== null && cnError === null ? renewedPair(renewedDir, base) : null) ?? base;
}
