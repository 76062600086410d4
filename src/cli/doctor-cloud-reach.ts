// doctor's "cloud dns" and "cloud tcp" lines: the cloud's host name resolves and its port accepts a TCP
// connection, from this box, now (the "cloud" line is the running agent's view; these work without it).
// Not run standalone (ORCH_CLOUD_URL=off).
import dns from 'node:dns';
import net from 'node:net';
import { check, type Check } from './doctor-check.js';

const TIMEOUT_MS = 5000;

export type Lookup = (host: string) => Promise<string[]>;
const systemLookup: Lookup = async (host) => (await dns.promises.lookup(host, { all: true })).map((a) => a.address);

const withTimeout = <T>(p: Promise<T>, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS).unref())]);

function connect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.setTimeout(TIMEOUT_MS, () => (s.destroy(), reject(new Error(`no answer within ${TIMEOUT_MS / 1000} s`))));
    s.on('connect', () => (s.destroy(), resolve()));
    s.on('error', reject);
  });
}

export async function cloudReachChecks(cloudUrl: string, lookup: Lookup = systemLookup): Promise<Check[]> {
  const u = new URL(cloudUrl);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(u.port || (u.protocol === "http:" || u.protocol === "ws:" ? 80 : 443));
  const out: Check[] = [];
  let address = host;
  if (net.isIP(host)) out.push(check('OK', 'cloud dns', `${host} is an address (no lookup)`));
  else {
    try {
      const all = await withTimeout(lookup(host), 'lookup');
      address = all[0]!;
      out.push(check('OK', 'cloud dns', `${host} → ${all.join(', ')}`));
    } catch (e) {
      out.push(check('FAIL', 'cloud dns', `${host} does not resolve: ${(e as Error).message}`, 'check the box\'s DNS: /etc/resolv.conf (the agent\'s container gets the host\'s, or the engine\'s --dns), and that the name in ORCH_CLOUD_URL is right'));
      out.push(check('WARN', 'cloud tcp', `${host}:${port}: not tried (the name does not resolve)`, 'fix "cloud dns" first'));
      return out;
    }
  }
  try {
    await connect(address, port);
    out.push(check('OK', 'cloud tcp', `${host}:${port} (${address}) accepts a connection`));
  } catch (e) {
    out.push(check('FAIL', 'cloud tcp', `${host}:${port} (${address}): ${(e as Error).message}`, `outbound TCP to port ${port} is blocked or nothing listens there: check the firewall, a proxy, and the port in ORCH_CLOUD_URL`));
  }
  return out;
}
