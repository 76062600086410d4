// Consumption periods (CONTRACT §5.5): "<n>" seconds, "<n>m", "<n>h", "<n>d", or "<start>,<end>" in Unix seconds.
export type Period = { start: number; end: number };

const UNIT: Record<string, number> = { '': 1, m: 60, h: 3600, d: 86400 };

export function parsePeriod(text: string, now = Math.floor(Date.now() / 1000)): Period | string {
  const range = /^(\d{1,12}),(\d{1,12})$/.exec(text);
  if (range) {
    const start = Number(range[1]);
    const end = Number(range[2]);
    return start <= end ? { start, end } : 'start is after end';
  }
  const m = /^(\d{1,9})([mhd]?)$/.exec(text);
  if (!m || Number(m[1]) <= 0) return 'expected "<n>", "<n>m", "<n>h", "<n>d" (n > 0) or "<start>,<end>" in Unix seconds';
  return { start: now - Number(m[1]) * UNIT[m[2]!]!, end: now };
}
