// dockerode, with two of its modules loaded on first use instead of at import (issue #12): docker-modem's
// `ssh://` transport (lib/ssh.js → ssh2, whose import alone makes a 16 MiB WebAssembly memory and
// forbids `--jitless`) and dockerode's BuildKit session (lib/session.js → @grpc/grpc-js, protobufjs).
// The agent talks to a unix socket or tcp:// and never builds with BuildKit, so neither is ever loaded;
// if a caller does use them they load then and behave as before. Each module is a single function, so
// a function that requires the real file on its first call stands in for it in require's cache.
// test/unit/dockerode-deferred.test.ts checks in a fresh process that ssh2 and grpc stay unloaded, so a
// dependency upgrade that moves these files fails there instead of silently costing the memory again.
import fs from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import type Dockerode from 'dockerode';

const require = createRequire(import.meta.url);

function deferFunctionModule(file: string): void {
  if (require.cache[file] || !fs.existsSync(file)) return;
  let real: ((...args: unknown[]) => unknown) | undefined;
  const stand = new Module(file);
  stand.filename = file;
  stand.loaded = true;
  stand.exports = function deferred(this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      delete require.cache[file];
      real = require(file) as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  require.cache[file] = stand;
}

const dockerodeMain = require.resolve('dockerode');
deferFunctionModule(path.join(path.dirname(dockerodeMain), 'session.js'));
deferFunctionModule(path.join(path.dirname(createRequire(dockerodeMain).resolve('docker-modem')), 'ssh.js'));

// Loaded after the stand-ins above, on purpose.
export const Docker = require('dockerode') as typeof Dockerode;
export type Docker = Dockerode;
