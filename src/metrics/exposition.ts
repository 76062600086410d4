// The Prometheus text exposition format (version 0.0.4): metric families with HELP and TYPE lines, label
// values escaped. Only what the agent's metrics need: gauges, counters and fixed-bucket histograms.

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

export type Family =
  | { name: string; help: string; type: 'gauge' | 'counter'; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; histogram: Histogram }
  | { name: string; help: string; type: 'histogram'; series: readonly { labels: Labels; histogram: Histogram }[] };

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Observations in fixed buckets (upper bounds in the unit of the metric's name); plain numbers only. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) this.counts[i]!++;
  }
}

/** Backslash, double quote and line feed are escaped in label values; backslash and line feed in HELP. */
export const escapeLabelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels | undefined, le?: string): string {
  if (le !== undefined) labels = { ...labels, le };
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

export function formatFamilies(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const { labels, histogram: h } of 'series' in f ? f.series : [{ labels: {}, histogram: f.histogram }]) {
        h.bounds.forEach((b, i) => out.push(`${f.name}_bucket${labelText(labels, num(b))} ${h.counts[i]}`));
        out.push(`${f.name}_bucket${labelText(labels, '+Inf')} ${h.count}`, `${f.name}_sum${labelText(labels)} ${num(h.sum)}`, `${f.name}_count${labelText(labels)} ${h.count}`);
      }
    } else for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${num(s.value)}`);
  }
  return out.join('\n') + '\n';
}
