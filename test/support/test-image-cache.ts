// One build of the shipped images per source tree for a whole `npm test`. Four suites run the images
// (agent-image, install, agent-update, netmon-update) on each engine; each used to build them on its own
// private engine (base import, esbuild, a production node_modules, two docker builds: ~40 s of mostly
// CPU, 8 times a run). The first build is kept as a `docker save` archive in the temp dir, named by a
// digest of everything the images are made from; every later suite, on either engine generation (the
// archive format is the same for both), loads it instead (~7 s). A lock file makes a concurrent pass wait
// for the build in progress rather than build the same thing. ORCH_TEST_IMAGE_CACHE=0 builds every time.
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';

const PREFIX = 'orch-test-images-';
/** What the images are made from, relative to the project root (directories are read whole). */
const INPUTS = [
  'src', 'bin', 'scripts/build.mjs', 'package.json', 'package-lock.json', 'Dockerfile', '.dockerignore', 'install/Dockerfile.netmon',
  'test/support/agent-image.ts', 'test/support/test-image-cache.ts',
];
const WAIT_FOR_OTHER_MS = 10 * 60_000;

function filesUnder(root: string, rel: string): string[] {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return [];
  if (!fs.statSync(abs).isDirectory()) return [rel];
  return fs.readdirSync(abs, { recursive: true }).map((f) => path.join(rel, String(f))).filter((f) => fs.statSync(path.join(root, f)).isFile()).sort();
}

/** A digest of the inputs' contents and of `extra` (binaries are hashed by path, size and mtime). */
export function imageCacheKey(root: string, extra: string[]): string {
  const h = crypto.createHash('sha256');
  for (const e of extra) {
    h.update(`${e}\0`);
    if (path.isAbsolute(e) && fs.existsSync(e)) {
      const st = fs.statSync(e);
      h.update(`${st.size}:${st.mtimeMs}\0`);
    }
  }
  if (process.env.ORCH_IMAGE_SRC === 'HEAD') h.update(execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }));
  for (const f of INPUTS.flatMap((i) => filesUnder(root, i))) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(root, f)));
  }
  return h.digest('hex').slice(0, 24);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock (a file holding our pid), or false while a live process holds it (a dead one's is taken over). */
function takeLock(lock: string): boolean {
  try {
    fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    let owner: number;
    try {
      owner = Number(fs.readFileSync(lock, 'utf8'));
    } catch {
      return false; // released between the two calls: the next round takes it
    }
    if (owner > 0 && alive(owner)) return false;
    fs.rmSync(lock, { force: true }); // left by a suite that was killed mid-build
    return false; // the next round takes it
  }
}

async function save(docker: Docker, names: readonly string[], file: string): Promise<void> {
  const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
    docker.modem.dial({ path: '/images/get?', options: { names }, method: 'GET', isStream: true, statusCodes: { 200: true, 500: 'server error' } }, (err, s) =>
      err ? reject(err) : resolve(s as NodeJS.ReadableStream)),
  );
  await pipeline(stream, fs.createWriteStream(file));
}

async function load(docker: Docker, file: string): Promise<void> {
  const stream = await docker.loadImage(fs.createReadStream(file));
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
}

/**
 * `build()`'s images on `docker`, from the cache when an archive for `key` is there, else built and then
 * kept (other keys' archives go once they are 2 h old).
 */
export async function withImageCache<T extends object>(docker: Docker, key: string, tags: readonly string[], build: () => Promise<T>): Promise<T & { loadedSeconds: number | null }> {
  if (process.env.ORCH_TEST_IMAGE_CACHE === '0') return { ...(await build()), loadedSeconds: null };
  const file = path.join(os.tmpdir(), `${PREFIX}${key}.tar`);
  const meta = `${file}.json`;
  const lock = `${file}.lock`;
  const fromCache = async (): Promise<(T & { loadedSeconds: number }) | null> => {
    if (!fs.existsSync(file) || !fs.existsSync(meta)) return null;
    const t0 = Date.now();
    try {
      await load(docker, file);
      for (const t of tags) await docker.getImage(t).inspect(); // all three there, or build
    } catch {
      fs.rmSync(file, { force: true }); // a damaged archive: built again below
      return null;
    }
    return { ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as T), loadedSeconds: (Date.now() - t0) / 1000 };
  };
  const waitUntil = Date.now() + WAIT_FOR_OTHER_MS;
  while (!takeLock(lock)) {
    const cached = await fromCache();
    if (cached) return cached;
    if (Date.now() > waitUntil) return { ...(await build()), loadedSeconds: null }; // a build that never ends: not ours to wait for
    await sleep(500);
  }
  try {
    const cached = await fromCache();
    if (cached) return cached;
    const built = await build();
    try {
      await save(docker, tags, `${file}.tmp`);
      fs.writeFileSync(meta, JSON.stringify(built));
      fs.renameSync(`${file}.tmp`, file);
      // Other trees' archives (an edit ago, another work tree) once they are 2 h old: 160 MB each.
      for (const f of fs.readdirSync(os.tmpdir())) {
        const other = path.join(os.tmpdir(), f);
        if (f.startsWith(PREFIX) && !f.startsWith(`${PREFIX}${key}`) && Date.now() - fs.statSync(other).mtimeMs > 2 * 3600_000) fs.rmSync(other, { force: true });
      }
    } catch {
      fs.rmSync(`${file}.tmp`, { force: true }); // no room to keep it: the next suite builds again
    }
    return { ...built, loadedSeconds: null };
  } finally {
    fs.rmSync(lock, { force: true });
  }
}
