// Where a process's resident memory lives, from /proc/<pid>/smaps: the node binary's own pages, the other
// mapped files (shared libraries, ICU), the brk heap (glibc malloc's main arena), anonymous mappings split
// by size (V8's heap pages and code range, malloc's per-thread arenas, thread stacks), and the stack.
// Rss, Pss and Anonymous (private pages that count as RssAnon) per group, in KiB.
import fs from 'node:fs';

export interface Group {
  rssKiB: number;
  pssKiB: number; // shared pages divided by the processes that map them (the agent and netmon share the node binary)
  anonKiB: number;
  count: number;
}

export function smapsBreakdown(pid: number): Record<string, Group> {
  const exe = fs.realpathSync(`/proc/${pid}/exe`);
  const out: Record<string, Group> = {};
  let group = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const sizeKiB = (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / 1024;
      const name = head[3]!.trim();
      if (name === exe) group = 'node binary';
      else if (name === '[heap]') group = '[heap] (malloc main arena)';
      else if (name === '[stack]') group = '[stack]';
      else if (name.startsWith('[')) group = name;
      else if (name) group = 'other files';
      else if (sizeKiB >= 60 * 1024) group = 'anon ≥ 60 MiB (malloc arenas, V8 code range)';
      else if (sizeKiB >= 8 * 1024) group = 'anon 8–60 MiB (thread stacks, V8 large objects)';
      else group = 'anon < 8 MiB (V8 pages, mmapped malloc)';
      const g = (out[group] ??= { rssKiB: 0, pssKiB: 0, anonKiB: 0, count: 0 });
      g.count++;
      continue;
    }
    const m = /^(Rss|Pss|Anonymous):\s+(\d+) kB/.exec(line);
    if (m && group) {
      const g = out[group]!;
      if (m[1] === 'Rss') g.rssKiB += Number(m[2]);
      else if (m[1] === 'Pss') g.pssKiB += Number(m[2]);
      else g.anonKiB += Number(m[2]);
    }
  }
  return out;
}

export function threads(pid: number): number {
  const m = /^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
