// Summary of a V8 heap snapshot (written by bench/mem-probe.mjs, or by `node --heapsnapshot-signal`):
// self size by node type, then the largest groups by type and name (constructor, "(compiled code)",
// "system / …", script names of bytecode). `node --import tsx bench/heap-summary.ts <file> [top=30]`
import fs from 'node:fs';

const file = process.argv[2];
if (!file) throw new Error('usage: heap-summary.ts <file.heapsnapshot> [top]');
const top = Number(process.argv[3] ?? 30);
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}
const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
const byType = new Map<string, number>();
const byName = new Map<string, { size: number; count: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const type = types[snap.nodes[i + ti]!]!;
  const size = snap.nodes[i + si]!;
  total += size;
  byType.set(type, (byType.get(type) ?? 0) + size);
  let name = snap.strings[snap.nodes[i + ni]!]!;
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = name.length > 60 ? `(string ${name.length > 10_000 ? '> 10 000' : '> 60'} chars)` : '(short strings)';
  const key = `${type}: ${name.slice(0, 80)}`;
  const e = byName.get(key) ?? { size: 0, count: 0 };
  e.size += size;
  e.count++;
  byName.set(key, e);
}
const mib = (b: number) => (b / 2 ** 20).toFixed(2);
console.log(`${file}: ${mib(total)} MiB self size in all`);
console.log('\n| node type | MiB |\n|---|---|');
for (const [t, s] of [...byType].sort((a, b) => b[1] - a[1])) console.log(`| ${t} | ${mib(s)} |`);
console.log('\n| type: name | count | MiB |\n|---|---|---|');
for (const [k, e] of [...byName].sort((a, b) => b[1].size - a[1].size).slice(0, top)) console.log(`| ${k.replaceAll('|', '\\|')} | ${e.count} | ${mib(e.size)} |`);
