#!/usr/bin/env node
// Entry point (the package's bin). It dispatches before loading anything: `netmon` runs the sidecar alone
// (no zod, pino, dockerode or CLI: its memory stays near a bare node process, docs/performance.md); every
// other command is commands.ts.
if (process.argv[2] === 'netmon') (await import('./netmon/sidecar.js')).netmonCommand();
else await import('./commands.js');
