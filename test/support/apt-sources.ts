// The apt source the Docker 26 download points at Debian 13 (trixie): taken from the box's own Debian
// mirror so it works behind a local mirror. A netinst/ISO install may have only the one-line
// /etc/apt/sources.list (no deb822 debian.sources), and its first line may be a cdrom: source.
import fs from 'node:fs';
import path from 'node:path';

const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** A deb822 stanza for trixie's main component, from the mirror configured under `root` (normally `/`). */
export function trixieSourceStanza(root = '/'): string {
  const deb822 = path.join(root, 'etc/apt/sources.list.d/debian.sources');
  if (fs.existsSync(deb822)) {
    return fs.readFileSync(deb822, 'utf8').split(/\n\s*\n/)[0]!.trim().replace(/^Suites:.*$/m, 'Suites: trixie');
  }
  return `Types: deb\nURIs: ${oneLineMirror(path.join(root, 'etc/apt/sources.list')) ?? DEFAULT_MIRROR}\nSuites: trixie\nComponents: main\nSigned-By: ${KEYRING}`;
}

/** The URI of the first `deb` line of a one-line sources.list that is a Debian mirror (not cdrom:, not the security archive). */
function oneLineMirror(file: string): string | null {
  if (!fs.existsSync(file)) return null;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const words = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, ' ').trim().split(/\s+/);
    if (words[0] !== 'deb' || !words[1] || words[1].startsWith('cdrom:')) continue;
    if ((words[2] ?? '').includes('security') || words[1].includes('security')) continue;
    return words[1].replace(/\/+$/, '');
  }
  return null;
}
