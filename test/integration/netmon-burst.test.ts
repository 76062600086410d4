// netmon under a burst of link events, no Docker engine: 40 veth pairs (80 links) appear on the host at
// once, as when many runtimes are created (a bridge and a veth each). Each interface keeps its own
// debounce, but the host facts are read one at a time and a burst folds into a few reads: one read per
// link at once made netmon 161 MiB (V8 kept the peak; bench/netmon-burst.sh).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NetmonClient, NetmonProcess } from '../support/netmon-process.js';
import { waitFor } from '../support/wait.js';

const DEBOUNCE = 300;
const PAIRS = 40;
const tag = randomBytes(2).toString('hex');
const names = Array.from({ length: PAIRS }, (_, i) => [`nb${tag}a${i}`, `nb${tag}b${i}`] as const);
let dir: string;
let netmon: NetmonProcess;

const batch = (lines: string[]) => execFileSync('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
const dockerLike = Array.from({ length: 10 }, (_, i) => `veth${tag}d${i}`);
const removeAll = () => {
  for (const [a] of names) spawnSync('ip', ['link', 'del', a], { stdio: 'ignore' });
  for (const a of dockerLike) spawnSync('ip', ['link', 'del', a], { stdio: 'ignore' });
};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orch-netmon-burst-'));
  netmon = new NetmonProcess(path.join(dir, 'netmon.sock'), DEBOUNCE);
  await netmon.start();
});

after(async () => {
  removeAll();
  await netmon?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('80 new links at once: every one reported, with a few facts reads instead of one per link', async () => {
  const c = await NetmonClient.connect(netmon.socketPath);
  try {
    let id = 0;
    const reads = async () => (await c.ask({ command: 'get_status', id: ++id })).facts_reads as number;
    const before = await reads();
    assert.equal(typeof before, 'number');
    batch(names.map(([a, b]) => `link add ${a} type veth peer name ${b}`));
    await waitFor('every new link reported', () => names.every(([a, b]) => c.events('network_change', a).length > 0 && c.events('network_change', b).length > 0), 20_000, 50);
    await new Promise((r) => setTimeout(r, DEBOUNCE * 3)); // the stragglers' timers
    const used = (await reads()) - before;
    assert.ok(used >= 1 && used <= 8, `facts reads for the burst: ${used} (one per link would be ${2 * PAIRS})`);
    // Docker's own links (veth*, br-*) are never in the facts: their events cost no read at all.
    const beforeDocker = await reads();
    batch(dockerLike.map((a) => `link add ${a} type veth peer name ${a}p`));
    await new Promise((r) => setTimeout(r, DEBOUNCE * 4));
    assert.ok((await reads()) - beforeDocker <= 1, 'no read for veth links (one may be the 30 s re-discovery)');
    removeAll();
    await waitFor('every removal reported', () => names.every(([a]) => c.events('network_change', a).some((e) => e.msg.operstate === 'removed')), 20_000, 50);
  } finally {
    c.close();
  }
});
