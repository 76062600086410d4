// The agent's own image, built from the repository's Dockerfile against a locally imported Node base
// (no registry is reachable): the build context is prepared as the Dockerfile says (dist/ + a
// production node_modules without install scripts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A Node base image: this machine's node binary and its shared libraries. */
async function importNodeBase(docker: Docker, repo: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-nodebase-'));
  try {
    const node = fs.realpathSync(process.execPath);
    const libs = execFileSync('ldd', [node], { encoding: 'utf8' }).split('\n').map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((p): p is string => p !== undefined);
    for (const f of [node, ...libs]) {
      const dest = path.join(dir, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(f, dest);
      fs.chmodSync(dest, 0o755);
    }
    fs.mkdirSync(path.join(dir, 'usr/local/bin'), { recursive: true });
    fs.symlinkSync(node, path.join(dir, 'usr/local/bin/node'));
    for (const d of ['etc', 'tmp', 'root']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const stream = await docker.importImage(tar.pack(dir) as unknown as NodeJS.ReadableStream, { repo, tag: 'latest', changes: ['ENV PATH=/usr/local/bin:/usr/bin:/bin'] } as object);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function buildAgentImage(docker: Docker, tag: string): Promise<void> {
  await importNodeBase(docker, 'orch-test/node-base');
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-agentctx-'));
  try {
    execFileSync('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json', '--outDir', path.join(ctx, 'dist')], { cwd: ROOT, stdio: 'pipe' });
    for (const f of ['package.json', 'package-lock.json', 'Dockerfile']) fs.copyFileSync(path.join(ROOT, f), path.join(ctx, f));
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: ctx, stdio: 'pipe' });
    const stream = await docker.buildImage(tar.pack(ctx) as unknown as NodeJS.ReadableStream, { t: tag, buildargs: { NODE_IMAGE: 'orch-test/node-base:latest' } } as Docker.ImageBuildOptions);
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
        const failed = err ?? (out.find((o) => o.error) ? new Error(out.find((o) => o.error)!.error) : null);
        if (failed) reject(failed);
        else resolve();
      }),
    );
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}
