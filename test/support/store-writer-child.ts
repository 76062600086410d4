// Child process for the crash test: declares runtimes in a loop and prints each acknowledged write.
import { putRuntime } from '../../src/store/desired-state.js';
import { Store } from '../../src/store/store.js';

const store = await Store.open(process.argv[2]!);
for (let n = Object.keys(store.state.runtimes).length; ; n++) {
  await putRuntime(store, { name: `rt-${n}`, runtimeVersion: 'latest', vnics: [{ name: 'eth0', parentInterface: 'eth0', mode: 'dhcp', dns: [] }] });
  process.stdout.write(`ack ${n}\n`);
}
