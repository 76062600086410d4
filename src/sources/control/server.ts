// The control socket: operator commands. Like every source it only writes desired state or reads.
import { monoNow } from '../../clock.js';
import fs from 'node:fs';
import net from 'node:net';
import { checkHealth } from '../../health.js';
import type { Logger } from '../../log.js';
import type { ReconcilerView } from '../../reconcilers/view.js';
import { normalizeCreateRequest } from '../../domain/runtime-spec.js';
import { firstIssueMessage } from '../../domain/validation-error.js';
import { markForDeletion, putRuntime, setLifecycle } from '../../store/desired-state.js';
import type { Store } from '../../store/store.js';
import { controlRequestSchema, type ControlAnswer, type LinkStatus } from './protocol.js';
import { LineBuffer } from '../../line-buffer.js';

export interface AgentInfo {
  id: string;
  version: string;
  /** monoNow() at start: uptime is a duration, never a wall-clock difference. */
  startedAt: number;
  /** The agent's own container, null when it runs as a plain process. */
  containerId: string | null;
}

export class ControlServer {
  private server: net.Server | null = null;

  constructor(
    private readonly path: string,
    private readonly store: Store,
    private readonly controller: ReconcilerView,
    private readonly agent: AgentInfo,
    private readonly log: Logger,
    private readonly health: { resyncIntervalMs: number; dataDir: string },
    private readonly links: () => LinkStatus = () => ({ cloud: null, netmon: null }),
    /** Why a runtime may not have this name (a container the agent does not own holds it), or null. */
    private readonly nameRefusal: (name: string, known: boolean) => Promise<string | null> = () => Promise.resolve(null),
  ) {}

  async start(): Promise<void> {
    fs.rmSync(this.path, { force: true }); // stale after a SIGKILL
    const server = net.createServer((sock) => {
      const lines = new LineBuffer();
      sock.on('error', () => undefined);
      sock.on('data', (d) => {
        for (const line of lines.push(d)) void this.handle(line).then((a) => sock.write(`${JSON.stringify(a)}\n`));
        if (lines.pending > 4 * 1024 * 1024) sock.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    fs.chmodSync(this.path, 0o600);
    this.server = server;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    try {
      fs.rmSync(this.path, { force: true });
    } catch {
      /* a read-only data dir: the next start removes it */
    }
  }

  private agentAnswer() {
    return { id: this.agent.id, version: this.agent.version, uptime: Math.floor((monoNow() - this.agent.startedAt) / 1000) };
  }

  private async handle(line: string): Promise<ControlAnswer> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      return { success: false, error: 'request is not JSON' };
    }
    const parsed = controlRequestSchema.safeParse(json);
    if (!parsed.success) return { success: false, error: firstIssueMessage(parsed.error) };
    const req = parsed.data;
    if (this.store.refusal !== null && req.command !== 'health') return { success: false, error: `(state): ${this.store.refusal}` };
    try {
      switch (req.command) {
        case 'state':
          return { success: true, agent: this.agentAnswer(), links: this.links(), state: this.store.state };
        case 'health':
          return {
            success: true,
            ...(await checkHealth(this.controller.lastPassAt, this.health.resyncIntervalMs, this.health.dataDir, Date.now(), { refusal: this.store.refusal, stuck: this.controller.stuckSteps(), sincePassMs: this.controller.lastPassMono ? monoNow() - this.controller.lastPassMono : Infinity })),
            // Answered even in refusing mode: `doctor` reads the agent and its links from here.
            agent: this.agentAnswer(),
            links: this.links(),
          };
        case 'plan':
          return { success: true, steps: await this.controller.dryRun() };
        case 'apply': {
          const n = normalizeCreateRequest(req.runtime);
          if (!n.ok) return { success: false, error: n.error };
          const taken = await this.nameRefusal(n.spec.name, n.spec.name in this.store.state.runtimes);
          if (taken !== null) return { success: false, error: taken };
          return { success: true, result: await putRuntime(this.store, n.spec, { allowUpdate: true }) };
        }
        case 'delete':
          return (await markForDeletion(this.store, req.name)) ? { success: true } : { success: false, error: `runtime ${req.name} not found` };
        default:
          return (await setLifecycle(this.store, req.name, req.command)) ? { success: true } : { success: false, error: `runtime ${req.name} not found` };
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message, command: req.command }, 'control command failed');
      return { success: false, error: (e as Error).message };
    }
  }
}
