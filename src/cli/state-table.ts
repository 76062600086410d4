// `orchestrator-agent state` and `plan` for a person at a terminal: one block per runtime, desired against
// observed; the plan as a table.
import type { State } from '../store/schema.js';

export function renderState(state: State): string {
  const names = Object.keys(state.runtimes).sort();
  if (names.length === 0) return 'no runtimes declared\n';
  const out: string[] = [];
  for (const name of names) {
    const r = state.runtimes[name]!;
    const st = r.status;
    const desired = r.deletion ? 'delete' : r.running ? 'running' : 'stopped';
    out.push(`${name}`);
    out.push(`  desired   ${desired}, generation ${r.generation}, image tag ${r.spec.runtimeVersion}, restarts requested ${r.restartCount}`);
    out.push(`  observed  phase ${st.phase}, generation ${st.observedGeneration}${st.observedGeneration === r.generation ? ' (converged)' : ''}${st.backoffUntil ? `, next start ${st.backoffUntil}` : ''}`);
    for (const [net, ep] of Object.entries(st.endpoints)) out.push(`  network   ${net}  ip ${ep.ip ?? '-'}  mac ${ep.mac ?? '-'}`);
    for (const c of st.conditions) out.push(`  ${c.type.padEnd(15)} ${c.status.padEnd(7)} ${c.reason}${c.message ? `: ${c.message}` : ''}`);
    if (st.lastError) out.push(`  last error ${st.lastError}`);
    out.push('');
  }
  if (state.host.observedAt) out.push(`host facts from netmon at ${state.host.observedAt}${state.host.stale ? ' (stale)' : ''}`);
  return `${out.join('\n')}\n`;
}

export interface PlanStep {
  device: string | null;
  action: string;
  reason: string;
}

/** `orchestrator-agent plan`: one row per step, columns aligned. */
export function renderPlan(steps: readonly PlanStep[]): string {
  if (steps.length === 0) return 'nothing to do: converged\n';
  const rows = [['RUNTIME', 'ACTION', 'REASON'], ...steps.map((s) => [s.device ?? '-', s.action, s.reason])];
  const w = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]}`).join('\n') + '\n';
}
