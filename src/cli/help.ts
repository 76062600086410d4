// Each command's usage, as `<command> --help` prints it; a module of its own so test/unit/docs-commands.test.ts
// can check the docs against it without starting the CLI.

/** `<command> --help`: what it does and takes (printed, exit 0; the command is not run). */
export const HELP: Record<string, string> = {
  run: 'run\n  start the agent (the container\'s command)',
  netmon: 'netmon\n  start the network monitor sidecar',
  state: 'state [NAME] [--json|-o json]\n  without NAME: one line per runtime (desired, phase, observed/desired generation, image tag, addresses)\n  with NAME: desired against observed state of that runtime (networks, conditions, last error)\n  with the agent down: read from $ORCH_DATA_DIR/state.json',
  plan: 'plan [--json|-o json]\n  the steps the reconciler would take now; nothing is done',
  health: 'health [--json|-o json]\n  exit 0 when healthy, 1 with the reasons when not (the image\'s HEALTHCHECK)',
  doctor: 'doctor [--json|-o json]\n  one line per check, OK/WARN/FAIL with a hint; exit 1 on a FAIL; works with the agent down',
  apply: 'apply [-f] FILE|- [--dry-run] [--json|-o json]\n  declare or change a runtime from a create_new_runtime payload (- reads stdin, at most 4 MiB)\n  unknown fields are refused; --dry-run checks the file and shows what would be declared,\n  without the agent and without writing anything',
  validate: 'validate FILE|- [--json|-o json]\n  the same as apply --dry-run: the payload checked offline, what would be declared shown',
  delete: 'delete NAME [--json|-o json]\n  remove the runtime and everything it has',
  start: 'start NAME [--json|-o json]\n  start a stopped runtime',
  stop: 'stop NAME [--json|-o json]\n  stop the runtime (it stays declared)',
  restart: 'restart NAME [--json|-o json]\n  restart the runtime\'s container',
  logs: 'logs NAME|--agent|--netmon [-f] [--tail N|all] [--since WHEN]\n  NAME: the runtime container\'s stdout and stderr, from the engine\n  --agent: the agent\'s own log files ($ORCH_DATA_DIR/logs/agent.<n>.log)\n  --netmon: the netmon sidecar\'s output (its container, labelled edge.autonomy.role=netmon)\n  -f follows; --tail N (-n N) the last N lines (all: every line); --since 10m|1h30m|2d|ISO time|epoch seconds',
  'support-bundle': 'support-bundle [-o FILE]\n  a tar.gz for support: doctor, state, plan, logs, docker inspect, versions; secrets redacted',
  version: 'version\n  the agent\'s version and the commit it was built from',
  'update-agent': 'update-agent\n  the updater container\'s command during a self-update (docs/updates.md); not for operators',
};
