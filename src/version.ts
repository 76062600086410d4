import fs from 'node:fs';

// The build's commit: scripts/build.mjs defines it from `git rev-parse` (tsx runs of src/ have none).
declare const __ORCH_COMMIT__: string | undefined;

// package.json sits one level above both src/ (tsx) and dist/ (built).
const packageVersion = (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The agent's version: the images' build arg VERSION (env AGENT_VERSION, as the Python agent's images set
 * it, e.g. `v1.3.0`), else package.json's version.
 */
export const VERSION: string = process.env.AGENT_VERSION || packageVersion;

/** The commit it was built from: embedded by the bundle, else the images' build arg COMMIT, else `unknown`. */
export const COMMIT: string = (typeof __ORCH_COMMIT__ === 'string' && __ORCH_COMMIT__) || process.env.AGENT_COMMIT || 'unknown';
