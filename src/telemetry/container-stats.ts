// CPU and memory of one runtime container from dockerode (not systeminformation, which ignores
// DOCKER_HOST and takes ~2 s per call). CPU % = Δcontainer / Δsystem · online CPUs · 100.
import type Docker from 'dockerode';

export interface ContainerUsage {
  cpuPercent: number;
  memoryMb: number;
}

export async function containerUsage(docker: Docker, id: string): Promise<ContainerUsage> {
  const s = await docker.getContainer(id).stats({ stream: false });
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus ?? s.cpu_stats.cpu_usage.percpu_usage?.length ?? 1;
  const cpuPercent = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const stats = s.memory_stats.stats as Record<string, number> | undefined;
  const cache = stats?.inactive_file ?? stats?.total_inactive_file ?? stats?.cache ?? 0;
  const memoryMb = Math.max(0, (s.memory_stats.usage ?? 0) - cache) / 2 ** 20;
  return { cpuPercent, memoryMb };
}
