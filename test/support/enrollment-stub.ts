// A local HTTPS enrollment server with the endpoints of the Python agent's newest installer
// (../shared/reference/upstream-agent.md §13.21), signing with an openssl CA from makePki:
//   GET  /orchestrators/id      -> {statusCode:200, data:{id, expiresAt, expiresIn}}
//   POST /orchestrators/enroll  multipart field `csr` -> {statusCode:200, message, data:{id, certificate}}
// It signs only a CSR whose CN is an id it gave out, or a renewal: a CSR for the CN of the client
// certificate the caller presents over mutual TLS, that certificate signed by the CA and not expired
// (docs/security.md, what the cloud must accept). `mode` makes it refuse (403) or sign a certificate that
// is not a client certificate (serverAuth only), as a misconfigured server would. `lifetimeS` makes the
// certificates it signs last that many seconds.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Pki } from './test-cloud.js';

const run = promisify(execFile);

export type StubMode = 'ok' | 'refuse' | 'server-cert';

export interface Enrollment {
  id: string;
  subject: string;
  csrExtensions: string;
  serial: string;
  /** A renewal: the serial of the still valid certificate the caller authenticated with. */
  renewedSerial: string | null;
}

interface Caller {
  authorized: boolean;
  cn: string;
  serial: string;
}

export class EnrollmentStub {
  mode: StubMode = 'ok';
  lifetimeS: number | null = null;
  readonly ids: string[] = [];
  readonly enrollments: Enrollment[] = [];
  private server!: https.Server;
  port = 0;
  private n = 0;

  constructor(private readonly pki: Pki) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The CA the stub's server certificate and the devices' certificates are signed by. */
  get caFile(): string {
    return path.join(this.pki.dir, 'ca.crt');
  }

  async start(): Promise<void> {
    const id = this.pki.issue('enroll-server', 'localhost', 'serverAuth');
    const tlsOptions = { cert: fs.readFileSync(id.cert), key: fs.readFileSync(id.key), ca: fs.readFileSync(this.caFile), requestCert: true, rejectUnauthorized: false };
    this.server = https.createServer(tlsOptions, (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const caller: Caller = { authorized: socket.authorized, cn: typeof peer?.subject?.CN === 'string' ? peer.subject.CN : '', serial: peer?.serialNumber ?? '' };
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.handle(req.method ?? '', req.url ?? '', req.headers['content-type'] ?? '', Buffer.concat(chunks), caller).then(
          ([status, body]) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
          },
          (e: Error) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ statusCode: 500, message: e.message }));
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private async handle(method: string, url: string, contentType: string, body: Buffer, caller: Caller): Promise<[number, Record<string, unknown>]> {
    if (method === 'GET' && url === '/orchestrators/id') {
      const id = `orch-${crypto.randomBytes(6).toString('hex')}`;
      this.ids.push(id);
      return [200, { statusCode: 200, message: 'id issued', data: { id, expiresAt: new Date(Date.now() + 600_000).toISOString(), expiresIn: 600 } }];
    }
    if (method === 'POST' && url === '/orchestrators/enroll') {
      if (this.mode === 'refuse') return [403, { statusCode: 403, message: 'enrollment refused: this device is not registered' }];
      if (!contentType.startsWith('multipart/form-data')) return [400, { statusCode: 400, message: 'multipart/form-data expected' }];
      const text = body.toString('latin1');
      if (!/name="csr"/.test(text)) return [400, { statusCode: 400, message: 'no csr field' }];
      const pem = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/.exec(text)?.[0];
      if (!pem) return [400, { statusCode: 400, message: 'the csr field holds no PEM CSR' }];
      const dir = fs.mkdtempSync(path.join(this.pki.dir, 'enroll-'));
      try {
        fs.writeFileSync(path.join(dir, 'client.csr'), `${pem}\n`);
        const csr = (await run('openssl', ['req', '-in', 'client.csr', '-noout', '-verify', '-subject', '-text', '-nameopt', 'RFC2253'], { cwd: dir })).stdout;
        const subject = /^subject=(.*)$/m.exec(csr)?.[1] ?? '';
        const cn = /(?:^|,)CN=([^,]+)/.exec(subject)?.[1] ?? '';
        const renewal = caller.authorized && caller.cn !== '' && caller.cn === cn;
        if (!renewal && caller.cn !== '') return [403, { statusCode: 403, message: `renewal refused: the caller's certificate (CN ${caller.cn}) is ${caller.authorized ? `not for CN ${cn}` : 'not valid'}` }];
        if (!renewal && !this.ids.includes(cn)) return [400, { statusCode: 400, message: `CN ${cn} is not an id this server gave out` }];
        const usage = this.mode === 'server-cert' ? 'serverAuth' : 'clientAuth';
        fs.writeFileSync(path.join(dir, 'ext'), `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n`);
        if (this.lifetimeS !== null) this.pki.signShortLived(path.join(dir, 'client.csr'), path.join(dir, 'client.crt'), Date.now() - 1000, Date.now() + this.lifetimeS * 1000);
        else await run('openssl', ['x509', '-req', '-in', 'client.csr', '-CA', path.join(this.pki.dir, 'ca.crt'), '-CAkey', path.join(this.pki.dir, 'ca.key'), '-CAcreateserial', '-CAserial', path.join(this.pki.dir, 'enroll.srl'), '-days', '30', '-extfile', 'ext', '-out', 'client.crt'], { cwd: dir });
        const certificate = fs.readFileSync(path.join(dir, 'client.crt'), 'utf8');
        const serial = new crypto.X509Certificate(certificate).serialNumber;
        this.enrollments.push({ id: cn, subject, csrExtensions: /Requested Extensions:[\s\S]*?(?=Signature Algorithm)/.exec(csr)?.[0] ?? '', serial, renewedSerial: renewal ? caller.serial : null });
        return [200, { statusCode: 200, message: 'Certificate issued', data: { id: cn, certificate } }];
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    return [404, { statusCode: 404, message: `no route ${method} ${url}` }];
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
