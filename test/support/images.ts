// Test images built locally every run (no registry is reachable): busybox from busybox-static, and an
// OpenPLC runtime stand-in made of this machine's node binary, its shared libraries and server.mjs
// bundled with socket.io (esbuild).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';

async function importDir(docker: Docker, dir: string, repo: string, tag: string, changes: string[]): Promise<void> {
  const stream = await docker.importImage(tar.pack(dir) as unknown as NodeJS.ReadableStream, { repo, tag, changes } as object);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
}

function busyboxRoot(dir: string): void {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev', 'var/run/runtime']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
}

/** A busybox image; `cmd` is its default command. */
export async function buildBusyboxImage(docker: Docker, repo: string, tag: string, cmd: string[] = ['/bin/sh']): Promise<void> {
  if (!fs.existsSync('/bin/busybox')) throw new Error('/bin/busybox missing: apt-get install -y busybox-static');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-img-'));
  try {
    busyboxRoot(dir);
    await importDir(docker, dir, repo, tag, [`CMD ${JSON.stringify(cmd)}`]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A busybox image with `bytes` random bytes at /payload: a layer of its own, for tests of disk space. */
export async function buildPayloadImage(docker: Docker, repo: string, tag: string, bytes: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-img-'));
  try {
    busyboxRoot(dir);
    fs.writeFileSync(path.join(dir, 'payload'), crypto.randomBytes(bytes));
    await importDir(docker, dir, repo, tag, ['CMD ["/bin/sh"]']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The OpenPLC runtime stand-in: HTTPS on 8443 with a self-signed certificate, like the real runtime.
 * `shell: false`: node and its libraries only (no busybox: no sh, mknod or any other tool), like a
 * distroless customer image. GET /api/version answers the tag; `neverReady`: 503 for ever (an upgrade to
 * it is rolled back).
 */
export async function buildRuntimeStandIn(docker: Docker, repo: string, tag: string, o: { shell?: boolean; neverReady?: boolean } = {}): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-img-'));
  try {
    if (o.shell === false) for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    else busyboxRoot(dir);
    const node = fs.realpathSync(process.execPath);
    const libs = execFileSync('ldd', [node], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined);
    for (const f of [node, ...libs]) {
      const dest = path.join(dir, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(f, dest);
      fs.chmodSync(dest, 0o755);
    }
    fs.mkdirSync(path.join(dir, 'app'));
    // server.mjs and socket.io (a devDependency) in one file: the image has no node_modules.
    const esbuild = path.join(import.meta.dirname, '../../node_modules/.bin/esbuild');
    execFileSync(esbuild, [path.join(import.meta.dirname, 'runtime-stand-in/server.mjs'), '--bundle', '--platform=node', '--format=cjs', '--log-level=warning',
      '--external:bufferutil', '--external:utf-8-validate', `--outfile=${path.join(dir, 'app/server.cjs')}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
      '-subj', '/CN=localhost', '-keyout', path.join(dir, 'app/key.pem'), '-out', path.join(dir, 'app/cert.pem')], { stdio: 'ignore' });
    const env = [`ENV STAND_IN_VERSION=${tag}`, ...(o.neverReady ? ['ENV STAND_IN_READY=never'] : [])];
    await importDir(docker, dir, repo, tag, [`CMD ["${node}", "/app/server.cjs"]`, 'EXPOSE 8443', ...env]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
