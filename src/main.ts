#!/usr/bin/env node
// Entry point (dist/main.js; bin/orchestrator-agent execs it). `run` and `netmon` first get the light
// settings (light-settings.ts: a re-exec in place where Node can). Then it dispatches before loading
// anything: `netmon` runs the sidecar alone (no zod, pino, dockerode or CLI: its memory stays near a bare
// node process, docs/performance.md); every other command is commands.ts.
import { ensureLightSettings } from './light-settings.js';

if (process.argv[2] === 'run' || process.argv[2] === 'netmon') ensureLightSettings();
if (process.argv[2] === 'netmon') (await import('./netmon/sidecar.js')).netmonCommand();
else await import('./commands.js');
