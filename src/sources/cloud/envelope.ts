// What every topic shares (CONTRACT §4): the optional common fields, the ack's action/correlation_id,
// validation errors in `<field path>: <what is wrong>` form.
import * as z from 'zod';
import { NAME_RE, ORCHESTRATOR_ID } from '../../domain/names.js';
import { firstIssueMessage, quote } from '../../domain/validation-error.js';

export type Ack = Record<string, unknown>;

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** The common optional fields; unknown extra fields are ignored. */
export const baseFields = {
  correlation_id: z.union([z.number(), z.string().max(128)], { message: 'expected a number or a string of at most 128 characters' }).nullish(),
  action: z.string().max(128).nullish(),
  requested_at: z
    .string()
    .refine((s) => ISO_RE.test(s) && !Number.isNaN(Date.parse(s)), { message: 'not an ISO 8601 date-time' })
    .nullish(),
};

// An EXISTING runtime's name: NAME_RE still admits one character, as an older state file may hold one
// (new names are checked against REQUEST_NAME_RE at create). The message shows the regex in use.
const notADeviceName = `not a device name (${NAME_RE.source})`;
export const deviceId = z.string().regex(NAME_RE, { message: notADeviceName });
export const deviceIdOrOrchestrator = z.union([z.literal(ORCHESTRATOR_ID), deviceId], { message: `${notADeviceName} nor ${ORCHESTRATOR_ID}` });

/** The correlation id to echo: as received when it is a number or a short string, else null. */
export function correlationIdOf(payload: unknown): number | string | null {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
  const c = (payload as Record<string, unknown>).correlation_id;
  return typeof c === 'number' || (typeof c === 'string' && c.length <= 128) ? c : null;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; ack: Ack };

export const validationError = (error: string): Ack => ({ status: 'error', error });

/** Validates an object payload against `schema`; a non-object is an error like any other. */
export function parsePayload<T>(schema: z.ZodType<T>, payload: unknown): Parsed<T> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, ack: validationError(`(payload): expected an object, got ${payload === null ? 'null' : Array.isArray(payload) ? 'an array' : `${typeof payload} ${quote(payload)}`}`) };
  }
  const r = schema.safeParse(payload);
  return r.success ? { ok: true, value: r.data } : { ok: false, ack: validationError(firstIssueMessage(r.error)) };
}

/** The answer when the state file could not be written: the request changed nothing (CONTRACT §4). */
export const notAccepted = (e: unknown): Ack => validationError(`(state): request not accepted, the state file could not be written: ${(e as Error).message}`);
