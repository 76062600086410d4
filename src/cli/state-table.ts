// `orchestrator-agent state`: one block per runtime, desired against observed, for a person at a terminal.
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
