// The Docker 26 download's apt source on both Debian layouts: deb822 debian.sources (cloud images) and a
// one-line sources.list only (an ISO/netinst install, often with a cdrom: line first).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { trixieSourceStanza } from '../support/apt-sources.js';

function rootWith(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'apt-root-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

test('deb822 debian.sources: its first stanza, suite switched to trixie', () => {
  const root = rootWith({
    'etc/apt/sources.list.d/debian.sources':
      'Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n',
  });
  assert.equal(
    trixieSourceStanza(root),
    'Types: deb\nURIs: http://mirror.example/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg',
  );
  fs.rmSync(root, { recursive: true });
});

test('only a one-line sources.list (ISO install): the first Debian mirror, past cdrom: and security lines', () => {
  const root = rootWith({
    'etc/apt/sources.list':
      '# deb cdrom:[Debian GNU/Linux 12.8.0 _Bookworm_]/ bookworm main\ndeb cdrom:[Debian GNU/Linux 12.8.0 _Bookworm_]/ bookworm main\n\ndeb http://security.debian.org/debian-security bookworm-security main\ndeb [arch=amd64] http://ftp.example.org/debian/ bookworm main non-free-firmware\ndeb-src http://ftp.example.org/debian/ bookworm main\n',
  });
  assert.equal(
    trixieSourceStanza(root),
    'Types: deb\nURIs: http://ftp.example.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg',
  );
  fs.rmSync(root, { recursive: true });
});

test('neither file (or only cdrom: lines): deb.debian.org', () => {
  const layouts: Record<string, string>[] = [{}, { 'etc/apt/sources.list': 'deb cdrom:[Debian 12]/ bookworm main\n' }];
  for (const files of layouts) {
    const root = rootWith(files);
    assert.match(trixieSourceStanza(root), /^URIs: http:\/\/deb\.debian\.org\/debian$/m);
    fs.rmSync(root, { recursive: true });
  }
});
