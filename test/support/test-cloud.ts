// A test cloud: a Socket.IO server over HTTPS with mutual TLS, websocket only, made with a private CA
// created by openssl at test time. It reads the agent's certificate CN in engine.io's allowRequest.
// Its packet limit is Socket.IO's default, as on a real cloud.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Server, type Socket } from 'socket.io';

export interface Pki {
  dir: string;
  /** Makes a key + certificate signed by `ca` (or self-signed when ca is null). */
  issue(name: string, cn: string, usage: 'serverAuth' | 'clientAuth', ca?: string | null): { cert: string; key: string };
  newCa(name: string, cn: string): { cert: string; key: string };
  /** Signs `csrFile` with the test CA into `outFile` for a client certificate valid from..until (ms). */
  signShortLived(csrFile: string, outFile: string, from: number, until: number): void;
  /** A key + client certificate for `cn` valid for `seconds` from now (a lifetime of minutes). */
  issueShortLived(name: string, cn: string, seconds: number): { cert: string; key: string };
  remove(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-pki-'));
  const newCa = (name: string, cn: string) => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-subj', `/CN=${cn}`], dir);
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  newCa('ca', 'Test Cloud CA');
  // `openssl x509 -req` takes whole days only (OpenSSL 3.0): `openssl ca` takes start and end times.
  const utc = (t: number) => new Date(t).toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
  const signShortLived = (csrFile: string, outFile: string, from: number, until: number) => {
    const cnf = path.join(dir, 'short-ca.cnf');
    if (!fs.existsSync(cnf)) {
      fs.writeFileSync(path.join(dir, 'short-ca.index'), '');
      fs.writeFileSync(path.join(dir, 'short-ca.serial'), `${crypto.randomBytes(8).toString('hex')}\n`);
      fs.writeFileSync(cnf, `[ca]\ndefault_ca = d\n[d]\ndatabase = ${dir}/short-ca.index\nnew_certs_dir = ${dir}\nserial = ${dir}/short-ca.serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\nx509_extensions = ext\n[p]\ncommonName = supplied\n[ext]\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = clientAuth\n`);
    }
    openssl(['ca', '-batch', '-notext', '-config', cnf, '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', csrFile, '-out', outFile, '-startdate', utc(from), '-enddate', utc(until)], dir);
  };
  return {
    dir,
    newCa,
    signShortLived,
    issueShortLived(name, cn, seconds) {
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
      const now = Date.now();
      signShortLived(path.join(dir, `${name}.csr`), path.join(dir, `${name}.crt`), now - 1000, now + seconds * 1000);
      return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
    },
    issue(name, cn, usage, ca = 'ca') {
      const ext = path.join(dir, `${name}.ext`);
      fs.writeFileSync(ext, `extendedKeyUsage=${usage}\n${usage === 'serverAuth' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:orch-cloud.test\n' : ''}`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
      if (ca === null) {
        openssl(['x509', '-req', '-in', `${name}.csr`, '-signkey', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-extfile', ext], dir);
      } else {
        openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '30', '-extfile', ext], dir);
      }
      return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Writes an agent's ORCH_MTLS_DIR (client.crt, client.key, ca.crt); `lifetimeS`: a short-lived certificate. */
export function agentMtlsDir(pki: Pki, cn: string, ca = 'ca', lifetimeS?: number): string {
  const id = lifetimeS === undefined ? pki.issue(`agent-${cn}`, cn, 'clientAuth', ca) : pki.issueShortLived(`agent-${cn}`, cn, lifetimeS);
  const dir = fs.mkdtempSync(path.join(pki.dir, 'mtls-'));
  fs.copyFileSync(id.cert, path.join(dir, 'client.crt'));
  fs.copyFileSync(id.key, path.join(dir, 'client.key'));
  fs.copyFileSync(path.join(pki.dir, 'ca.crt'), path.join(dir, 'ca.crt'));
  return dir;
}

export interface Recorded {
  event: string;
  args: unknown[];
  at: number;
  agentId: string;
}

export class TestCloud {
  readonly events: Recorded[] = [];
  /** Every connection: the agent id (CN) and the serial of the client certificate it came with. */
  readonly connections: { agentId: string; at: number; serial: string }[] = [];
  readonly tlsErrors: string[] = [];
  private server!: https.Server;
  private io!: Server;
  port = 0;

  constructor(private readonly pki: Pki, private readonly serverName = 'server') {}

  get url(): string {
    return `https://localhost:${this.port}`;
  }

  /** `host`: where it listens (a bridge gateway, for an agent in a container: `orch-cloud.test` in its certificate). */
  async start(port = 0, host = '127.0.0.1'): Promise<void> {
    const id = fs.existsSync(path.join(this.pki.dir, `${this.serverName}.crt`))
      ? { cert: path.join(this.pki.dir, `${this.serverName}.crt`), key: path.join(this.pki.dir, `${this.serverName}.key`) }
      : this.pki.issue(this.serverName, 'localhost', 'serverAuth');
    this.server = https.createServer({
      cert: fs.readFileSync(id.cert),
      key: fs.readFileSync(id.key),
      ca: fs.readFileSync(path.join(this.pki.dir, 'ca.crt')),
      requestCert: true,
      rejectUnauthorized: true,
    });
    this.server.on('tlsClientError', (e: Error & { code?: string }) => this.tlsErrors.push(e.code ?? e.message));
    // Socket.IO's defaults otherwise, the 1 MB packet limit above all: a real cloud drops a larger
    // packet and the connection with it, and the agent must be tested against that.
    this.io = new Server(this.server, {
      transports: ['websocket'],
      allowRequest: (req, cb) => {
        const cert = (req.socket as TLSSocket).getPeerCertificate();
        (req as unknown as { agentId: string }).agentId = typeof cert.subject?.CN === 'string' ? cert.subject.CN : '';
        (req as unknown as { serial: string }).serial = cert.serialNumber ?? '';
        cb(null, (req.socket as TLSSocket).authorized);
      },
    });
    this.io.on('connection', (socket: Socket) => {
      const agentId = (socket.request as unknown as { agentId: string }).agentId;
      this.connections.push({ agentId, at: Date.now(), serial: (socket.request as unknown as { serial: string }).serial });
      socket.onAny((event: string, ...args: unknown[]) => this.events.push({ event, args, at: Date.now(), agentId }));
    });
    await new Promise<void>((resolve) => this.server.listen(port, host, () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Sockets of connected agents. */
  sockets(): Socket[] {
    return [...this.io.sockets.sockets.values()];
  }

  async waitForAgent(timeoutMs = 20_000): Promise<Socket> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = this.sockets()[0];
      if (s) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no agent connected to the test cloud');
  }

  /** Emits `topic` with the arguments and resolves with the agent's acknowledgement. */
  async call(topic: string, ...args: unknown[]): Promise<Record<string, unknown>> {
    const socket = await this.waitForAgent();
    return (await socket.timeout(30_000).emitWithAck(topic, ...args)) as Record<string, unknown>;
  }

  received(event: string): Recorded[] {
    return this.events.filter((e) => e.event === event);
  }

  async stop(): Promise<void> {
    this.io.disconnectSockets(true);
    await new Promise<void>((resolve) => void this.io.close(() => resolve()));
    this.server.closeAllConnections();
  }
}
