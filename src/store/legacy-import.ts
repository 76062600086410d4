// First start on a box that ran the Python agent: its runtime_vnics.json (the vNIC configs as the cloud
// sent them) and data/clients.json (the runtime registry) become desired runtimes whose existing
// containers are adopted, not re-created (CONTRACT §8, docs/migration.md). HEAD's serial ports
// (data/serial_configs.json) and dedicated NICs (dedicated_nics.json) come with them (upstream §13.20).
// They are read only on a first start (no state.json, no .bak); once imported durably they are retired
// (renamed `<file>.imported-<time>`, kept), so a later loss of the state never brings back the Python-era
// configuration: that is rebuilt from the containers (recover.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { normalizeCreateRequest, type RuntimeSpec } from '../domain/runtime-spec.js';
import { initialStatus } from './schema.js';
import type { Store } from './store.js';

function readJson(file: string, log: Logger): Record<string, unknown> | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    log.warn({ file }, 'legacy file is not a JSON object: ignored');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err: (e as Error).message }, 'legacy file unreadable: ignored');
  }
  return null;
}

const pick = (o: unknown, keys: string[]) =>
  typeof o === 'object' && o !== null ? Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, (o as Record<string, unknown>)[k]])) : o;

/** The Python agent's files, relative to the data dir. */
export const LEGACY_FILES = ['runtime_vnics.json', 'data/clients.json', 'data/serial_configs.json', 'dedicated_nics.json'];

/**
 * Renames the legacy files still in place to `<file>.imported-<time>` (kept for a person or a rollback,
 * never read again). A failure (read-only data dir) is logged: the next start tries again.
 */
export function retireLegacy(dataDir: string, log: Logger, why: string): string[] {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const retired: string[] = [];
  for (const f of LEGACY_FILES) {
    const from = path.join(dataDir, f);
    if (!fs.existsSync(from)) continue;
    try {
      fs.renameSync(from, `${from}.imported-${stamp}`);
      retired.push(`${f}.imported-${stamp}`);
    } catch (e) {
      log.warn({ file: from, err: (e as Error).message }, 'legacy file not retired: the next start tries again');
    }
  }
  if (retired.length > 0) log.info({ retired }, `the Python agent's files retired (${why}); they are never read again`);
  return retired;
}

/**
 * Runtime names in the Python agent's vNIC file, in place and retired ones too (`retired`: those only).
 * Recovery reads them for the names alone: an adopted container carries no label to be found by.
 */
export function legacyRuntimeNames(dataDir: string, which: 'all' | 'retired' = 'all'): string[] {
  let files: string[];
  try {
    files = fs.readdirSync(dataDir).filter((f) => f.startsWith('runtime_vnics.json.imported-') || (which === 'all' && f === 'runtime_vnics.json'));
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const f of files) {
    try {
      const v = JSON.parse(fs.readFileSync(path.join(dataDir, f), 'utf8')) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const k of Object.keys(v)) names.add(k);
    } catch {
      /* unreadable: no names from it */
    }
  }
  return [...names].sort();
}

export interface ImportReport {
  imported: string[];
  skipped: { name: string; reason: string }[];
  /** Imported without their serial ports or dedicated NIC, which were not valid. */
  partial: { name: string; reason: string }[];
}

export async function importLegacy(dataDir: string, store: Store, log: Logger): Promise<ImportReport> {
  const vnics = readJson(path.join(dataDir, 'runtime_vnics.json'), log) ?? {};
  const clients = readJson(path.join(dataDir, 'data', 'clients.json'), log) ?? {};
  const report: ImportReport = { imported: [], skipped: [], partial: [] };
  const names = [...new Set([...Object.keys(vnics), ...Object.keys(clients)])].sort();
  if (names.length === 0) return report;
  const serial = readJson(path.join(dataDir, 'data', 'serial_configs.json'), log) ?? {};
  const dedicated = readJson(path.join(dataDir, 'dedicated_nics.json'), log) ?? {};
  const specs: RuntimeSpec[] = [];
  for (const name of names) {
    if (!(name in vnics)) {
      report.skipped.push({ name, reason: 'in data/clients.json but without vNIC configs in runtime_vnics.json' });
      continue;
    }
    // `{name: {serial_ports: [{name, device_id, container_path, status, …}]}}` and `{name: {host_interface}}`:
    // the runtime-side fields are the request's; the observed ones (status, current_host_path, …) are dropped.
    const ports = (serial[name] as { serial_ports?: unknown } | undefined)?.serial_ports;
    const nic = (dedicated[name] as { host_interface?: unknown } | undefined)?.host_interface;
    const base = { container_name: name, vnic_configs: vnics[name] };
    let n = normalizeCreateRequest({
      ...base,
      ...(Array.isArray(ports) ? { serial_configs: ports.map((p) => pick(p, ['name', 'device_id', 'container_path', 'baud_rate'])) } : {}),
      ...(typeof nic === 'string' ? { dedicated_interface: nic } : {}),
    });
    if (!n.ok && /^(serial_configs|dedicated_interface)/.test(n.error)) {
      // A PLC without its serial port or NIC is still better kept running and managed than left alone.
      log.warn({ device: name, reason: n.error }, 'legacy hardware config not imported; the runtime is');
      report.partial.push({ name, reason: n.error });
      n = normalizeCreateRequest(base);
    }
    if (!n.ok) report.skipped.push({ name, reason: n.error });
    else specs.push(n.spec);
  }
  // On a full data dir the import is kept in memory (its containers are managed all the same) and the
  // files are not retired: the next start imports again unless the state reached the disk meanwhile.
  await store.update(
    'desired',
    (s) => {
      for (const spec of specs) {
        if (s.runtimes[spec.name]) continue;
        s.runtimes[spec.name] = { spec, generation: 1, running: true, restartCount: 0, deletion: null, createdAt: new Date().toISOString(), adoption: 'pending', status: initialStatus() };
        report.imported.push(spec.name);
      }
    },
    { keepIfUnwritten: true },
  );
  for (const k of report.skipped) log.warn({ device: k.name, reason: k.reason }, 'legacy runtime not imported');
  log.info({ imported: report.imported }, 'imported the Python agent runtimes (their containers are adopted)');
  return report;
}
