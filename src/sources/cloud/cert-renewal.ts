// Device certificate renewal (docs/security.md): at a jittered 75-85 % of the certificate's lifetime the
// agent makes a NEW key of the same kind, sends a CSR for the same CN to the installer's enrollment server
// (POST $ORCH_ENROLL_URL/orchestrators/enroll, multipart field `csr`) over mutual TLS with the current,
// still valid certificate, writes the new pair to $ORCH_DATA_DIR/mtls and hands it to the cloud link.
// Nothing here touches Docker: runtimes are not involved. Failures retry with backoff, for ever.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import * as z from 'zod';
import type { Logger } from '../../log.js';
import { commonName, type Credentials } from './credentials.js';

/** What `doctor` shows about renewal (times ISO 8601). */
export interface RenewalStatus {
  enrollUrl: string;
  notAfter: string;
  /** When the next attempt is due. */
  nextAttemptAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  failures: number;
  renewedAt: string | null;
}

export interface CertRenewalOptions {
  enrollUrl: string;
  /** $ORCH_DATA_DIR/mtls */
  dir: string;
  credentials: Credentials;
  log: Logger;
  /** Takes the new pair into use; `connected` is to be called once the link connected with it. */
  onRenewed: (c: Credentials, connected: () => void) => void;
  random?: () => number;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** setTimeout's longest delay: a year-long certificate is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const REQUEST_TIMEOUT_MS = 60_000;

const answerSchema = z.object({
  statusCode: z.number().optional(),
  message: z.string().optional(),
  data: z.object({ certificate: z.string().min(1) }).optional(),
});

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** When to renew: 75-85 % into notBefore..notAfter. */
export function renewAt(notBefore: number, notAfter: number, random = Math.random): number {
  return notBefore + (notAfter - notBefore) * (0.75 + 0.1 * random());
}

/** The n-th retry delay: base·2^n up to a cap, both scaled to the lifetime (1 s..60 s, 10 s..1 h), ±20 %. */
export function retryDelayMs(lifetimeMs: number, failures: number, random = Math.random): number {
  const base = clamp(lifetimeMs / 100, 1000, 60_000);
  const cap = clamp(lifetimeMs / 20, 10_000, 3_600_000);
  return Math.round(Math.min(base * 2 ** failures, cap) * (0.8 + 0.4 * random()));
}

export class CertRenewal {
  private timer: NodeJS.Timeout | null = null;
  private due = 0;
  private failures = 0;
  private lastError: { message: string; at: number } | null = null;
  private renewedAt: number | null = null;
  private stopped = false;
  private readonly random: () => number;

  constructor(private readonly o: CertRenewalOptions) {
    this.random = o.random ?? Math.random;
  }

  private get credentials(): Credentials {
    return this.o.credentials;
  }

  start(): void {
    const c = this.credentials;
    this.schedule(renewAt(c.notBefore, c.notAfter, this.random));
    this.o.log.info({ certificate: c.certFile, notAfter: new Date(c.notAfter).toISOString(), renewAt: new Date(this.due).toISOString(), enrollUrl: this.o.enrollUrl }, 'certificate renewal scheduled');
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  status(): RenewalStatus {
    const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);
    return {
      enrollUrl: this.o.enrollUrl,
      notAfter: new Date(this.credentials.notAfter).toISOString(),
      nextAttemptAt: this.stopped ? null : iso(this.due),
      lastError: this.lastError?.message ?? null,
      lastErrorAt: iso(this.lastError?.at),
      failures: this.failures,
      renewedAt: iso(this.renewedAt),
    };
  }

  private schedule(at: number): void {
    if (this.stopped) return;
    this.due = at;
    const step = () => {
      const left = this.due - Date.now();
      if (left > 0) {
        this.timer = setTimeout(step, Math.min(left, MAX_TIMER_MS));
        this.timer.unref();
        return;
      }
      this.timer = null;
      void this.attempt();
    };
    step();
  }

  private async attempt(): Promise<void> {
    const c = this.credentials;
    try {
      const next = await this.renewOnce(c);
      if (this.stopped) return;
      this.failures = 0;
      this.lastError = null;
      this.renewedAt = Date.now();
      this.o.credentials = next;
      this.o.log.info({ certificate: next.certFile, serial: new crypto.X509Certificate(next.cert).serialNumber, notAfter: new Date(next.notAfter).toISOString() }, 'device certificate renewed; reconnecting to the cloud with it');
      this.o.onRenewed(next, () => this.dropPrevious());
      this.schedule(renewAt(next.notBefore, next.notAfter, this.random));
    } catch (e) {
      if (this.stopped) return;
      const delay = retryDelayMs(c.notAfter - c.notBefore, this.failures, this.random);
      this.failures++;
      const expired = Date.now() >= c.notAfter;
      this.lastError = { message: (e as Error).message, at: Date.now() };
      this.o.log.warn({ retryInMs: delay, failures: this.failures, notAfter: new Date(c.notAfter).toISOString(), expired }, `certificate renewal failed: ${(e as Error).message}`);
      this.schedule(Date.now() + delay);
    }
  }

  private async renewOnce(c: Credentials): Promise<Credentials> {
    const { buildCsr } = await import('./csr.js'); // loaded only when a renewal is due
    const key = await newKeyLike(crypto.createPrivateKey(c.key));
    const body = await this.post(c, buildCsr(c.agentId, key));
    const pem = body.trim() + '\n';
    let x: crypto.X509Certificate;
    try {
      x = new crypto.X509Certificate(pem);
    } catch (e) {
      throw new Error(`data.certificate: not a PEM certificate (${(e as Error).message})`, { cause: e });
    }
    const cn = commonName(Buffer.from(pem));
    if (cn !== c.agentId) throw new Error(`data.certificate: is for CN=${cn ?? '(none)'}, not ${c.agentId}`);
    if (!x.checkPrivateKey(key)) throw new Error('data.certificate: does not belong to the new key');
    if (x.keyUsage && !x.keyUsage.includes(CLIENT_AUTH)) throw new Error('data.certificate: is not a client certificate (no clientAuth)');
    const notBefore = Date.parse(x.validFrom);
    const notAfter = Date.parse(x.validTo);
    if (notAfter <= Date.now()) throw new Error(`data.certificate: expired at ${x.validTo}`);
    const keyPem = Buffer.from(key.export({ type: 'pkcs8', format: 'pem' }) as string);
    const certFile = writePair(this.o.dir, Buffer.from(pem), keyPem);
    return { ...c, cert: Buffer.from(pem), key: keyPem, certFile, notBefore, notAfter };
  }

  /** The enrollment call, authenticated by the current certificate; resolves with data.certificate. */
  private post(c: Credentials, csr: string): Promise<string> {
    const boundary = `----orch${crypto.randomBytes(12).toString('hex')}`;
    const payload = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="csr"; filename="client.csr"\r\nContent-Type: application/pkcs10\r\n\r\n${csr}\r\n--${boundary}--\r\n`);
    const url = `${this.o.enrollUrl}/orchestrators/enroll`;
    return new Promise((resolve, reject) => {
      const req = https.request(url, {
        method: 'POST',
        cert: c.cert,
        key: c.key,
        ca: c.ca,
        timeout: REQUEST_TIMEOUT_MS,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': payload.length },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(new Error(`${url}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
          }
          const a = answerSchema.safeParse(json);
          if (!a.success) return reject(new Error(`${url}: HTTP ${res.statusCode}, unexpected answer: ${a.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`));
          const code = a.data.statusCode ?? res.statusCode;
          if (res.statusCode !== 200 || code !== 200) return reject(new Error(`${url}: refused (HTTP ${res.statusCode}, statusCode ${code}): ${a.data.message ?? text.slice(0, 200)}`));
          if (!a.data.data) return reject(new Error(`${url}: data.certificate: missing`));
          resolve(a.data.data.certificate);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', (e) => reject(new Error(`${url}: ${e.message}`)));
      req.end(payload);
    });
  }

  /** The new pair connected once: the previous one is not needed any more. */
  private dropPrevious(): void {
    for (const f of ['client.crt.prev', 'client.key.prev']) fs.rmSync(path.join(this.o.dir, f), { force: true });
  }
}

const generateKeyPair = promisify(crypto.generateKeyPair);

/** A new private key of the same kind and size as `old` (the installer makes RSA 4096). */
async function newKeyLike(old: crypto.KeyObject): Promise<crypto.KeyObject> {
  const d = old.asymmetricKeyDetails ?? {};
  if (old.asymmetricKeyType === 'ec') return (await generateKeyPair('ec', { namedCurve: d.namedCurve ?? 'prime256v1' })).privateKey;
  if (old.asymmetricKeyType === 'rsa') return (await generateKeyPair('rsa', { modulusLength: d.modulusLength ?? 4096 })).privateKey;
  throw new Error(`client.key: ${old.asymmetricKeyType} keys cannot be renewed (rsa or ec)`);
}

function writeSynced(file: string, data: Buffer, mode: number): void {
  const fd = fs.openSync(file, 'w', mode);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Temp + fsync + rename for each file; the pair in use becomes .prev first. A crash between the renames
 * leaves a key and certificate that do not match: credentials.ts then takes the .prev pair (or ORCH_MTLS_DIR's).
 */
function writePair(dir: string, cert: Buffer, key: Buffer): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => path.join(dir, n);
  writeSynced(f('client.key.tmp'), key, 0o600);
  writeSynced(f('client.crt.tmp'), cert, 0o644);
  if (fs.existsSync(f('client.crt')) && fs.existsSync(f('client.key'))) {
    fs.renameSync(f('client.crt'), f('client.crt.prev'));
    fs.renameSync(f('client.key'), f('client.key.prev'));
  }
  fs.renameSync(f('client.key.tmp'), f('client.key'));
  fs.renameSync(f('client.crt.tmp'), f('client.crt'));
  const d = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(d);
  } finally {
    fs.closeSync(d);
  }
  return f('client.crt');
}
