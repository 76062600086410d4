// The spec hash on each runtime container (label `edge.autonomy.spec-hash`, CONTRACT §1): a different hash
// means the container must be re-created. Pinned by golden values (test/unit/spec-hash.test.ts): an agent
// upgrade that changed it would re-create every PLC of every box.
import { createHash } from 'node:crypto';
import { mergedDns, vnicMac, type RuntimeSpec } from './runtime-spec.js';

/** The repository the hash is computed with, whatever ORCH_RUNTIME_IMAGE says (it says where images come from, not what a runtime is). */
export const DEFAULT_RUNTIME_REPO = 'ghcr.io/autonomy-logic/openplc-runtime';

/** Spec fields added after the first release (CONTRACT §9), in a fixed order; unknown keys never count. */
const OPTIONAL_FIELDS = ['serialConfigs', 'dedicatedInterface'] as const;

/** An optional field counts only when set and non-empty: absent, null, '' and [] hash alike. */
const present = (v: unknown) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);

function hashWith(spec: RuntimeSpec, repo: string): string {
  // Field order and shape are those of the first release; fields added since enter only when present.
  const canon: Record<string, unknown> = {
    image: `${repo}:${spec.runtimeVersion}`,
    vnics: spec.vnics.map((v) => ({ ...v, mac: vnicMac(spec, v) })),
    dns: mergedDns(spec),
  };
  const extra = spec as Record<string, unknown>;
  for (const k of OPTIONAL_FIELDS) if (present(extra[k])) canon[k] = extra[k];
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex').slice(0, 16);
}

/** The hash a container made for `spec` carries. */
export const specHash = (spec: RuntimeSpec): string => hashWith(spec, DEFAULT_RUNTIME_REPO);

/** The repository part of an image reference (`host:5000/repo:tag` → `host:5000/repo`). */
export function repoOf(image: string): string {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
}

/**
 * True when a container labelled `label`, made from `image`, is up to date for `spec`. Agents before 0.2
 * hashed the repository the container came from: those containers are kept too (never re-create a PLC
 * because the agent was upgraded or ORCH_RUNTIME_IMAGE changed).
 */
export function hashMatches(label: string | undefined, spec: RuntimeSpec, image: string): boolean {
  if (label === undefined) return false;
  if (label === specHash(spec)) return true;
  const repo = repoOf(image);
  return repo !== DEFAULT_RUNTIME_REPO && label === hashWith(spec, repo);
}
