// Talks to a running agent over agent.sock: one request, one answer.
import net from 'node:net';
import type { ControlAnswer, ControlRequest } from '../sources/control/protocol.js';

/** The agent could not be asked (not running, not permitted, not answering): one line for the operator. */
export class AgentUnreachable extends Error {
  constructor(
    message: string,
    /** Nothing listens on the socket (exit 3), as opposed to an agent that is there but does not answer. */
    readonly notRunning = false,
  ) {
    super(message);
  }
}

function unreachable(socketPath: string, e: NodeJS.ErrnoException): AgentUnreachable {
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') return new AgentUnreachable(`agent not running (no ${socketPath})`, true);
  // agent.sock is mode 0600: an operator who is not root lands here.
  if (e.code === 'EACCES' || e.code === 'EPERM') return new AgentUnreachable(`${socketPath}: permission denied (the agent's socket is for root only)`);
  // The agent accepted and hung up before reading the request (it is stopping, or crashed).
  if (e.code === 'EPIPE' || e.code === 'ECONNRESET') return new AgentUnreachable(`the agent closed ${socketPath} without answering`);
  return new AgentUnreachable(`${socketPath}: cannot reach the agent (${e.code ?? e.message})`);
}

export function askAgent(socketPath: string, req: ControlRequest, timeoutMs = 15_000): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new AgentUnreachable(`no answer from the agent within ${timeoutMs} ms (${socketPath})`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlAnswer);
      } catch {
        reject(new AgentUnreachable(`the agent answered something that is not JSON on ${socketPath}`));
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      // After an answer this is a no-op (the promise is settled); before one, the agent hung up.
      reject(new AgentUnreachable(`the agent closed ${socketPath} without answering`));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(unreachable(socketPath, e));
    });
  });
}
