// doctor's "certificate" line: the device certificate the agent would use (a renewed one included) has a
// CN (the agent id, CONTRACT §3), belongs to its private key, and is not expired or near expiry.
import crypto from 'node:crypto';
import path from 'node:path';
import { CredentialsError, loadCredentials } from '../sources/cloud/credentials.js';
import { check, type Check } from './doctor-check.js';

const CERT_WARN_DAYS = 30;

export interface CertificateDirs {
  mtlsDir: string;
  renewedMtlsDir: string | null;
  /** Renewal on (ORCH_ENROLL_URL set): only a certificate past its renewal point is a warning. */
  renewal: boolean;
}

/** The check, and whether the certificate has expired (certificate renewal's line depends on it). */
export function certificateCheck(d: CertificateDirs, now: number): { check: Check; expired: boolean } {
  const fix = `put the box's client.crt and client.key in ORCH_MTLS_DIR (${d.mtlsDir}), or set ORCH_CLOUD_URL=off to run standalone`;
  let c;
  try {
    c = loadCredentials(d.mtlsDir, d.renewedMtlsDir);
  } catch (e) {
    return { check: check('FAIL', 'certificate', e instanceof CredentialsError ? e.message : (e as Error).message, fix), expired: false };
  }
  // The cloud knows the box by its CN: without one the agent would call itself UNKNOWN.
  if (c.cnError !== null) return { check: check('FAIL', 'certificate', c.cnError, 'the subject must carry CN=<agent id>: enroll the box again for a new client.crt'), expired: false };
  const cert = new crypto.X509Certificate(c.cert);
  let matches = false;
  try {
    matches = cert.checkPrivateKey(crypto.createPrivateKey(c.key));
  } catch {
    // a key of another type than the certificate's: it does not match either
  }
  const keyFile = path.join(path.dirname(c.certFile), 'client.key');
  if (!matches) return { check: check('FAIL', 'certificate', `${keyFile} is not the private key of ${c.certFile}: TLS to the cloud fails`, 'put the key the certificate was issued for next to it (both files from the same enrollment), or enroll the box again'), expired: false };
  const days = Math.floor((c.notAfter - now) / 86_400_000);
  const expired = c.notAfter <= now;
  // With renewal on, only a certificate past the latest renewal point (85 % of its lifetime) is a warning.
  const soon = d.renewal ? c.notAfter - now < 0.15 * (c.notAfter - c.notBefore) : days < CERT_WARN_DAYS;
  const hint = expired
    ? `expired: the cloud refuses the agent (runtimes keep running)${d.renewal ? '; renewal needs a valid certificate, the agent retries in case the clock was wrong' : ''}; enroll the box again for a new client.crt`
    : d.renewal ? 'past its renewal time: see "certificate renewal"' : 'expires soon: enroll the box again for a new client.crt before it does (ORCH_ENROLL_URL turns on automatic renewal)';
  const renewed = path.dirname(c.certFile) !== path.resolve(d.mtlsDir) ? `; renewed: ${c.certFile}` : '';
  const line = check(expired ? 'FAIL' : soon ? 'WARN' : 'OK', 'certificate', `agent id ${c.agentId}; ${expired ? 'EXPIRED at' : 'valid until'} ${cert.validTo} (${days} days${renewed})`, hint);
  return { check: line, expired };
}
