// The opt-in metrics endpoint (ORCH_METRICS_LISTEN): GET /metrics on loopback TCP or a unix socket, with
// node:http. A scrape only formats what collect() reads from memory: no Docker call, no file read.
import fs from 'node:fs';
import http from 'node:http';
import { CONTENT_TYPE, formatFamilies, type Family } from './exposition.js';
import type { MetricsListen } from './listen.js';

export class MetricsServer {
  private readonly server: http.Server;

  constructor(
    private readonly listen: MetricsListen,
    collect: () => Family[],
  ) {
    this.server = http.createServer((req, res) => {
      const url = (req.url ?? '').split('?')[0];
      if (url !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
      let body: string;
      try {
        body = formatFamilies(collect());
      } catch (e) {
        return void res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
      }
      res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    // A scraper holds its connection open between scrapes: that must not keep the agent from exiting.
    this.server.keepAliveTimeout = 5000;
  }

  async start(): Promise<void> {
    const l = this.listen;
    // A socket left by a previous run (a socket, never another kind of file) is replaced.
    if ('path' in l && fs.lstatSync(l.path, { throwIfNoEntry: false })?.isSocket()) fs.rmSync(l.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen('path' in l ? { path: l.path } : { host: l.host, port: l.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
