// The shipped images, built on a private engine with no registry: a base image imported from this
// machine's binaries (node, iproute2's ip, util-linux's nsenter, busybox with their shared libraries),
// then the agent's `Dockerfile` and the sidecar's `install/Dockerfile.netmon` (COPY-only, base passed
// as BASE_IMAGE) on a context prepared as the Dockerfiles say (dist/ + a production node_modules
// without install scripts). install/Dockerfile.base is the same base for an outside build (apt).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { imageCacheKey, withImageCache } from './test-image-cache.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The binaries the base must have (CONTRACT §6, §9): the program's runtime and the sidecar's tools. */
const BASE_TOOLS = ['node', 'ip', 'nsenter', 'busybox'];

function which(tool: string): string {
  const found = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8', env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } }).trim();
  if (!found) throw new Error(`${tool} is not installed on this machine (the test base image is made from it)`);
  return fs.realpathSync(found);
}

function sharedLibs(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return []; // "not a dynamic executable" (busybox-static)
  }
  return out.split('\n').map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((p): p is string => p !== undefined);
}

function copyInto(root: string, file: string, dest = file): void {
  const to = path.join(root, dest);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(file, to);
  fs.chmodSync(to, 0o755);
}

/**
 * The base image from this machine's binaries and their shared libraries (`docker import`):
 * /usr/bin/{node,ip,nsenter}, /usr/local/bin/node, /bin/busybox with its applets linked in /bin
 * (after /usr/bin in PATH, so busybox's own `ip` and `nsenter` never shadow the real ones).
 */
export async function importBase(docker: Docker, repo: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-base-'));
  try {
    const bins = Object.fromEntries(BASE_TOOLS.map((t) => [t, which(t)]));
    const libs = new Set(Object.values(bins).flatMap(sharedLibs));
    for (const t of ['node', 'ip', 'nsenter']) copyInto(dir, bins[t]!, `/usr/bin/${t}`);
    for (const l of libs) copyInto(dir, fs.realpathSync(l), l);
    copyInto(dir, bins.busybox!, '/bin/busybox');
    const applets = execFileSync(bins.busybox!, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a));
    for (const a of applets) if (!['busybox', ...BASE_TOOLS].includes(a)) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
    fs.mkdirSync(path.join(dir, 'usr/local/bin'), { recursive: true });
    fs.symlinkSync('/usr/bin/node', path.join(dir, 'usr/local/bin/node'));
    if (fs.existsSync('/etc/iproute2')) fs.cpSync('/etc/iproute2', path.join(dir, 'etc/iproute2'), { recursive: true, dereference: true });
    for (const d of ['etc', 'root', 'var/run', 'run', 'usr/sbin', 'sbin']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.mkdirSync(path.join(dir, 'tmp'), { mode: 0o1777 });
    fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
    fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const stream = await docker.importImage(tar.pack(dir) as unknown as NodeJS.ReadableStream, {
      repo,
      tag: 'latest',
      changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["node"]'],
    } as object);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function build(docker: Docker, ctx: string, dockerfile: string, tag: string, base: string): Promise<void> {
  const stream = await docker.buildImage(tar.pack(ctx) as unknown as NodeJS.ReadableStream, { t: tag, dockerfile, buildargs: { BASE_IMAGE: base } } as Docker.ImageBuildOptions);
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
      const failed = err ?? (out.find((o) => o.error) ? new Error(`${dockerfile}: ${out.find((o) => o.error)!.error}`) : null);
      if (failed) reject(failed);
      else resolve();
    }),
  );
}

export interface BuiltImages {
  agent: string;
  netmon: string;
  base: string;
  /** Seconds: base import, context preparation (tsc + npm ci --omit=dev), the two docker builds, as the
   * build took them (also when this engine loaded the build from the cache). */
  seconds: { base: number; context: number; build: number };
  /** Bytes, as the engine reports them (Size of each image, base included). */
  sizes: { base: number; agent: number; netmon: number };
  /** Seconds this engine spent loading the three from the cache; null when it built them itself. */
  loadedSeconds: number | null;
}

/**
 * Both shipped images on `docker`: tags `<prefix>/agent:dev`, `<prefix>/netmon:dev`. Built once per
 * source tree and kept as a `docker save` archive in the temp dir (test-image-cache.ts): the next suite,
 * on either engine (the archive is the same for both), loads it in seconds instead of building again.
 */
export async function buildImages(docker: Docker, prefix = 'orch-test'): Promise<BuiltImages> {
  const tags = [`${prefix}/agent:dev`, `${prefix}/netmon:dev`, `${prefix}/base:latest`] as const;
  const key = imageCacheKey(ROOT, [prefix, process.env.ORCH_IMAGE_SRC ?? '', ...BASE_TOOLS.map(which)]);
  return withImageCache(docker, key, tags, async () => {
    const { loadedSeconds: _, ...built } = await buildImagesNow(docker, prefix);
    return built;
  });
}

async function buildImagesNow(docker: Docker, prefix: string): Promise<BuiltImages> {
  const base = `${prefix}/base:latest`;
  const agent = `${prefix}/agent:dev`;
  const netmon = `${prefix}/netmon:dev`;
  const t0 = Date.now();
  await importBase(docker, `${prefix}/base`);
  const t1 = Date.now();
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-imagectx-'));
  try {
    // ORCH_IMAGE_SRC=HEAD builds the committed src/ (a work tree others are editing may not compile).
    let srcRoot = ROOT;
    if (process.env.ORCH_IMAGE_SRC === 'HEAD') {
      srcRoot = path.join(ctx, '.src');
      fs.mkdirSync(srcRoot);
      execFileSync('sh', ['-c', `git -C "${ROOT}" archive HEAD src package.json | tar -x -C "${srcRoot}"`]);
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(srcRoot, 'node_modules'));
    }
    // The images run what `npm run build` makes (scripts/build.mjs: the esbuild bundle); type errors are
    // the typecheck's business (npm run typecheck), esbuild only strips the types.
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs'), '--outdir', path.join(ctx, 'dist')], { cwd: srcRoot, stdio: 'pipe' });
    fs.rmSync(path.join(ctx, '.src'), { recursive: true, force: true });
    for (const f of ['package.json', 'package-lock.json', 'Dockerfile', '.dockerignore', 'install/Dockerfile.netmon', 'bin/orchestrator-agent']) {
      fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(ctx, f));
    }
    // --offline: from npm's cache, which the project's own `npm ci` filled. Without it npm revalidates the
    // cache against the registry, and in a test pass's own network namespace (a default route to nowhere)
    // each request waits for its timeout: 40 min instead of 4.5 s (2026-12-03).
    execFileSync('npm', ['ci', '--offline', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: ctx, stdio: 'pipe' });
    const t2 = Date.now();
    await build(docker, ctx, 'Dockerfile', agent, base);
    await build(docker, ctx, 'install/Dockerfile.netmon', netmon, base);
    const t3 = Date.now();
    const size = async (tag: string) => (await docker.getImage(tag).inspect()).Size;
    return {
      agent,
      netmon,
      base,
      seconds: { base: (t1 - t0) / 1000, context: (t2 - t1) / 1000, build: (t3 - t2) / 1000 },
      sizes: { base: await size(base), agent: await size(agent), netmon: await size(netmon) },
      loadedSeconds: null,
    };
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

/** The agent image alone (older callers). */
export async function buildAgentImage(docker: Docker, tag: string): Promise<void> {
  const built = await buildImages(docker);
  const [repo, version = 'latest'] = tag.split(':') as [string, string?];
  if (tag !== built.agent) await docker.getImage(built.agent).tag({ repo, tag: version });
}

/**
 * Whether this machine's engine can run a --privileged container: runc grants every capability the
 * kernel knows, which fails when dockerd's bounding set lacks one (these machines lack CAP_SYS_RESOURCE).
 */
export function canRunPrivileged(): boolean {
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const bnd = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
  return bnd === (1n << BigInt(last + 1)) - 1n;
}

/** install.sh's default for the sidecar (issue #22): what netmon needs instead of --privileged. */
export const NETMON_UNPRIVILEGED = {
  // Nothing of Docker's default set (CHOWN, DAC_OVERRIDE, SETUID, KILL, ...): netmon is root and owns what it writes.
  CapDrop: ['ALL'],
  // NET_BIND_SERVICE: udhcpc binds UDP 68 in the runtime's namespace once it has a lease (renewals).
  CapAdd: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_ADMIN', 'SYS_PTRACE', 'MKNOD'],
  DeviceCgroupRules: ['c *:* rmw'],
  SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
  // --security-opt systempaths=unconfined, as the CLI sends it: a writable /proc/sys (sysctls such as proxy_arp).
  MaskedPaths: [] as string[],
  ReadonlyPaths: [] as string[],
};

/**
 * Whether this engine runs a --privileged container here: docker 20.10 grants every capability the
 * kernel knows and fails without CAP_SYS_RESOURCE; docker 26 grants dockerd's own bounding set.
 */
export async function enginePrivileged(docker: Docker, image: string): Promise<boolean> {
  if (canRunPrivileged()) return true;
  const c = await docker.createContainer({ Image: image, Cmd: ['true'], HostConfig: { Privileged: true, NetworkMode: 'none' } });
  try {
    await c.start();
    return true;
  } catch (e) {
    if (/apply caps/.test((e as Error).message)) return false;
    throw e;
  } finally {
    await c.remove({ force: true });
  }
}

/**
 * cgroup v1: the host's devices hierarchy, bound where netmon finds it (src/netmon/device-node.ts) to add a
 * rule for a newly plugged serial device; a container cannot reach it through /proc/1/root (EACCES).
 */
const HOST_DEVICES_CGROUP = '/sys/fs/cgroup/devices';
export const NETMON_DEVICES_CGROUP = '/run/host-cgroup-devices';

/** The sidecar's HostConfig as install.sh runs it by default: the narrow set, not --privileged (issue #22). */
export function netmonHostConfig(): Docker.HostConfig {
  const binds = ['/dev:/dev', 'orchestrator-shared:/var/orchestrator'];
  if (fs.existsSync(HOST_DEVICES_CGROUP)) binds.push(`${HOST_DEVICES_CGROUP}:${NETMON_DEVICES_CGROUP}`);
  return { NetworkMode: 'host', PidMode: 'host', Binds: binds, ...NETMON_UNPRIVILEGED, SecurityOpt: ['no-new-privileges', ...NETMON_UNPRIVILEGED.SecurityOpt] };
}
