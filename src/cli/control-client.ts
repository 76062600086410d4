// Talks to a running agent over agent.sock: one request, one answer.
import net from 'node:net';
import type { ControlAnswer, ControlRequest } from '../sources/control/protocol.js';

export class AgentUnreachable extends Error {}

export function askAgent(socketPath: string, req: ControlRequest, timeoutMs = 15_000): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from the agent within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      resolve(JSON.parse(buf.slice(0, nl)) as ControlAnswer);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new AgentUnreachable(`agent not running (no ${socketPath})`) : e);
    });
  });
}
