// Certificate renewal without Docker: the CSR as openssl reads it, the schedule and backoff, which pair
// credentials.ts takes, and renewals against the enrollment stub (a real HTTPS endpoint with mutual TLS).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { CertRenewal, renewAt, retryDelayMs } from '../../src/sources/cloud/cert-renewal.js';
import { loadCredentials, type Credentials } from '../../src/sources/cloud/credentials.js';
import { buildCsr } from '../../src/sources/cloud/csr.js';
import { EnrollmentStub } from '../support/enrollment-stub.js';
import { agentMtlsDir, makePki, type Pki } from '../support/test-cloud.js';
import { waitFor } from '../support/wait.js';

const openssl = (args: string[], input: string) => execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

test('the CSR (EC and RSA keys): openssl verifies its signature; the installer\'s subject with the id as CN, clientAuth asked for', () => {
  for (const key of [crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey]) {
    const csr = buildCsr('orch-1a2b', key);
    const text = openssl(['req', '-noout', '-verify', '-subject', '-text', '-nameopt', 'RFC2253'], csr);
    assert.match(text, /^subject=CN=orch-1a2b,OU=Production,O=AutonomyLogic,L=SaoPaulo,ST=SP,C=BR$/m);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
    assert.match(text, /TLS Web Client Authentication/);
    const pub = openssl(['req', '-noout', '-pubkey'], csr);
    assert.equal(pub, crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }));
  }
});

test('renewal is due at 75-85 % of the lifetime; retries back off, scaled to the lifetime and capped', () => {
  assert.equal(renewAt(1000, 101_000, () => 0), 76_000);
  assert.equal(renewAt(1000, 101_000, () => 1), 86_000);
  const year = 365 * 86_400_000;
  const mid = () => 0.5;
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => retryDelayMs(60_000, n, mid)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.deepEqual([0, 1, 6, 20].map((n) => retryDelayMs(year, n, mid)), [60_000, 120_000, 3_600_000, 3_600_000]);
  assert.equal(retryDelayMs(60_000, 0, () => 0), 800);
  assert.equal(retryDelayMs(60_000, 0, () => 1), 1200);
});

test('ORCH_ENROLL_URL: unset or empty = renewal off; an https URL; anything else names the variable', () => {
  assert.equal(loadConfig({}).enrollUrl, null);
  assert.equal(loadConfig({ ORCH_ENROLL_URL: '' }).enrollUrl, null);
  const c = loadConfig({ ORCH_ENROLL_URL: 'https://enroll.example/', ORCH_DATA_DIR: '/d' });
  assert.equal(c.enrollUrl, 'https://enroll.example');
  assert.equal(c.renewedMtlsDir, '/d/mtls');
  assert.throws(() => loadConfig({ ORCH_ENROLL_URL: 'http://enroll.example' }), /ORCH_ENROLL_URL: expected an https:\/\/ URL, got "http:\/\/enroll\.example"/);
});

describe('with the test CA and the enrollment stub', () => {
  let pki: Pki;
  let stub: EnrollmentStub;
  const log = createLogger('silent');
  before(async () => {
    pki = makePki();
    stub = new EnrollmentStub(pki);
    await stub.start();
  });
  after(async () => {
    await stub.stop();
    pki.remove();
  });

  const pairIn = (dir: string, from: string, suffix = '') => {
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(from, 'client.crt'), path.join(dir, `client.crt${suffix}`));
    fs.copyFileSync(path.join(from, 'client.key'), path.join(dir, `client.key${suffix}`));
  };

  test('credentials: the data dir\'s pair when it is for the same CN, matches its key and lasts longer; else .prev; else ORCH_MTLS_DIR', () => {
    const base = agentMtlsDir(pki, 'box-a', 'ca', 60); // 60 s: the 30-day ones below last longer
    const longer = agentMtlsDir(pki, 'box-a');
    const other = agentMtlsDir(pki, 'box-b');
    const renewed = fs.mkdtempSync(path.join(pki.dir, 'renewed-'));
    assert.equal(loadCredentials(base, renewed).certFile, path.join(base, 'client.crt'), 'nothing renewed yet');
    pairIn(renewed, other);
    assert.equal(loadCredentials(base, renewed).certFile, path.join(base, 'client.crt'), 'another CN is ignored');
    pairIn(renewed, longer);
    const c = loadCredentials(base, renewed);
    assert.equal(c.certFile, path.join(renewed, 'client.crt'));
    assert.equal(c.agentId, 'box-a');
    assert.deepEqual(c.key, fs.readFileSync(path.join(longer, 'client.key')));
    // A swap cut short between the renames: a key that is not the certificate's; the .prev pair is taken.
    pairIn(renewed, longer, '.prev');
    fs.copyFileSync(path.join(other, 'client.key'), path.join(renewed, 'client.key'));
    assert.equal(loadCredentials(base, renewed).certFile, path.join(renewed, 'client.crt.prev'));
    assert.equal(loadCredentials(base, null).certFile, path.join(base, 'client.crt'));
  });

  const due = (c: Credentials): Credentials => ({ ...c, notBefore: Date.now() - 100_000, notAfter: Date.now() + 10_000 }); // past 85 %

  test('a renewal: a new key, the same CN, authenticated by the current certificate; written to the data dir, .prev until connected', async () => {
    const mtls = agentMtlsDir(pki, 'box-c');
    const dir = path.join(fs.mkdtempSync(path.join(pki.dir, 'data-')), 'mtls');
    const current = loadCredentials(mtls, dir);
    let got: { c: Credentials; connected: () => void } | null = null;
    const r = new CertRenewal({ enrollUrl: stub.url, dir, credentials: due(current), log, onRenewed: (c, connected) => (got = { c, connected }) });
    r.start();
    const { c } = await waitFor('renewed', () => got, 20_000);
    r.stop();
    const e = stub.enrollments.at(-1)!;
    assert.equal(e.id, 'box-c');
    assert.equal(e.renewedSerial, new crypto.X509Certificate(current.cert).serialNumber);
    assert.equal(new crypto.X509Certificate(c.cert).serialNumber, e.serial);
    assert.notDeepEqual(c.key, current.key);
    assert.equal(c.certFile, path.join(dir, 'client.crt'));
    assert.deepEqual(fs.readFileSync(path.join(dir, 'client.key')), c.key);
    assert.equal(loadCredentials(mtls, dir).certFile, path.join(dir, 'client.crt'));
    assert.equal(r.status().failures, 0);
    assert.ok(r.status().renewedAt);

    // A second renewal keeps the first pair as .prev until the link connected with the new one.
    got = null;
    const r2 = new CertRenewal({ enrollUrl: stub.url, dir, credentials: due(c), log, onRenewed: (n, connected) => (got = { c: n, connected }) });
    r2.start();
    const second = await waitFor('renewed again', () => got, 20_000);
    r2.stop();
    assert.deepEqual(fs.readFileSync(path.join(dir, 'client.crt.prev')), c.cert);
    second.connected();
    assert.deepEqual(fs.readdirSync(dir).sort(), ['client.crt', 'client.key']);
  });

  test('refused renewals (the stub refuses; a certificate for another CN) fail with the server\'s message and retry', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(pki.dir, 'data-')), 'mtls');
    const foreign = { ...loadCredentials(agentMtlsDir(pki, 'box-d')), agentId: 'box-e' };
    const r = new CertRenewal({ enrollUrl: stub.url, dir, credentials: due(foreign), log, onRenewed: () => assert.fail('not renewed') });
    r.start();
    await waitFor('failed', () => r.status().failures > 0, 20_000);
    r.stop();
    assert.match(r.status().lastError!, /refused \(HTTP 403, statusCode 403\): renewal refused: the caller's certificate \(CN box-d\) is not for CN box-e/);
    assert.equal(fs.existsSync(dir), false, 'nothing written');

    stub.mode = 'refuse';
    try {
      const r2 = new CertRenewal({ enrollUrl: stub.url, dir, credentials: due(loadCredentials(agentMtlsDir(pki, 'box-f'))), log, onRenewed: () => assert.fail('not renewed') });
      r2.start();
      await waitFor('failed', () => r2.status().failures > 0, 20_000);
      assert.ok(Date.parse(r2.status().nextAttemptAt!) > Date.now(), 'a retry is scheduled');
      r2.stop();
      assert.match(r2.status().lastError!, /enrollment refused: this device is not registered/);
    } finally {
      stub.mode = 'ok';
    }
  });
});
