// `<field path>: <what is wrong>` messages (CONTRACT §4) from zod issues.
import type * as z from 'zod';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(payload)' : out;
}

/** Quotes a value for an error message, never more than 64 characters of it. */
export function quote(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

export function firstIssueMessage(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return '(payload): invalid';
  return `${formatPath(issue.path)}: ${issue.message}`;
}
