// The new agent's container, made from the old one's (docs/updates.md, phase 2): everything the installer
// or an operator gave the old container is kept (env, binds and mounts, labels, network mode, log config,
// limits, devices, --hostname), and what only the old *image* put there is left out, so that the new image's
// defaults win (its AGENT_VERSION, entry point, healthcheck). The Python agent's upgrader kept three binds
// and lost the rest (reference §18.7, hazard 5). Pure: inspect results in, a create request out.
import type Docker from 'dockerode';

type ImageConfig = { Env?: string[] | null; Labels?: Record<string, string> | null; Cmd?: string[] | null; Entrypoint?: string[] | string | null; WorkingDir?: string; User?: string; Healthcheck?: unknown };

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * `old`: the old agent container's inspect; `oldImage`: its image's `Config`; `restartPolicy`: `no` for the
 * trial (the updater sets the old container's policy once the gate passes).
 */
export function newAgentContainerRequest(
  old: Docker.ContainerInspectInfo,
  oldImage: ImageConfig,
  newImage: string,
  name: string,
  restartPolicy: Docker.HostRestartPolicy,
): Docker.ContainerCreateOptions {
  const c = old.Config;
  const imageEnv = new Set(oldImage.Env ?? []);
  const imageLabels = oldImage.Labels ?? {};
  const labels = Object.fromEntries(Object.entries(c.Labels ?? {}).filter(([k, v]) => imageLabels[k] !== v));
  const own = <T>(value: T, fromImage: unknown): T | undefined => (same(value, fromImage) ? undefined : value);
  return {
    name,
    Image: newImage,
    Env: (c.Env ?? []).filter((e) => !imageEnv.has(e)),
    Labels: labels,
    Cmd: own(c.Cmd, oldImage.Cmd) ?? undefined,
    Entrypoint: own(c.Entrypoint, oldImage.Entrypoint) ?? undefined,
    WorkingDir: own(c.WorkingDir, oldImage.WorkingDir ?? ''),
    User: own(c.User, oldImage.User ?? ''),
    Healthcheck: own((c as { Healthcheck?: Docker.HealthConfig }).Healthcheck, oldImage.Healthcheck),
    // Docker's default hostname is the id's first 12 characters: only a chosen one is kept.
    Hostname: c.Hostname && c.Hostname !== old.Id.slice(0, 12) ? c.Hostname : undefined,
    Domainname: c.Domainname || undefined,
    StopSignal: (c as { StopSignal?: string }).StopSignal,
    Tty: c.Tty,
    OpenStdin: c.OpenStdin,
    HostConfig: { ...old.HostConfig, RestartPolicy: restartPolicy },
  };
}
