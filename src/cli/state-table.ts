// `orchestrator-agent state` and `plan` for a person at a terminal: one line per runtime (`state`, as
// `iotedge list`), or one block of one runtime, desired against observed (`state NAME`); the plan as a table.
import type { State } from '../store/schema.js';

/** Rows with columns aligned (the last one free). */
function table(rows: readonly string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

/** `state`: one line per runtime. */
export function renderStateList(state: State): string {
  const names = Object.keys(state.runtimes).sort();
  if (names.length === 0) return 'no runtimes declared\n';
  const rows = [['NAME', 'DESIRED', 'PHASE', 'GENERATION', 'IMAGE TAG', 'ADDRESSES']];
  for (const name of names) {
    const r = state.runtimes[name]!;
    const st = r.status;
    const ips = Object.values(st.endpoints).map((ep) => ep.ip ?? '-');
    rows.push([name, r.deletion ? 'delete' : r.running ? 'running' : 'stopped', st.phase, `${st.observedGeneration}/${r.generation}`, r.spec.runtimeVersion, ips.length ? ips.join(',') : '-']);
  }
  return table(rows);
}

/** `state NAME` (only that runtime), or every runtime's block. */
export function renderState(state: State, only?: string): string {
  const names = Object.keys(state.runtimes).sort().filter((n) => only === undefined || n === only);
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
  return table([['RUNTIME', 'ACTION', 'REASON'], ...steps.map((s) => [s.device ?? '-', s.action, s.reason])]);
}
