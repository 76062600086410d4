// Which containers the agent owns as runtimes (issue #22): the one labelled `edge.autonomy.role=runtime` for
// that name, or the unlabelled one a legacy file named (adopted). Never the agent's or netmon's container,
// never another program's container that happens to have the name. Pure: the planner and the requests use it.
import { LABEL, reservedContainerName } from './names.js';

/** Why the container `labels`/`name` is not the runtime `runtime`'s, or null when it is. `adoptable`: a legacy runtime of that name. */
export function notOwnedRuntime(runtime: string, name: string, labels: Readonly<Record<string, string>>, adoptable: boolean): string | null {
  const reserved = reservedContainerName(name);
  if (reserved !== null) return reserved;
  const role = labels[LABEL.role];
  if (labels[LABEL.managed] === 'true') {
    if (role === 'runtime' && labels[LABEL.device] === runtime) return null;
    return `container ${name} belongs to the agent as ${role ?? 'an unknown role'}, not as the runtime ${runtime}`;
  }
  return adoptable ? null : `container ${name} is not the agent's (no ${LABEL.role}=runtime label)`;
}

