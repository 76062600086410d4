// A PKCS#10 certificate request (RFC 2986) in DER, signed with node:crypto: node has no CSR builder, and
// the few fields a renewal needs are ~60 lines of DER (smaller than any npm library; docs/security.md).
// Loaded only at renewal time (dynamic import).
import crypto from 'node:crypto';

const len = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const b: number[] = [];
  for (let v = n; v > 0; v >>= 8) b.unshift(v & 0xff);
  return Buffer.from([0x80 | b.length, ...b]);
};
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a! + b!];
  for (const n of rest) {
    const digits: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      digits.unshift((v % 128) | (digits.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...digits);
  }
  return tlv(0x06, Buffer.from(out));
};
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);

/** The installer's subject (install.sh) with the agent id as CN. */
const SUBJECT: [string, number, string][] = [
  ['2.5.4.6', 0x13, 'BR'], // C, PrintableString
  ['2.5.4.8', 0x0c, 'SP'], // ST
  ['2.5.4.7', 0x0c, 'SaoPaulo'], // L
  ['2.5.4.10', 0x0c, 'AutonomyLogic'], // O
  ['2.5.4.11', 0x0c, 'Production'], // OU
];

/** A PEM CSR for `cn` with the key's public half, asking for a TLS client certificate. */
export function buildCsr(cn: string, key: crypto.KeyObject): string {
  const pub = crypto.createPublicKey(key);
  const rsa = key.asymmetricKeyType === 'rsa';
  if (!rsa && key.asymmetricKeyType !== 'ec') throw new Error(`key: ${key.asymmetricKeyType} keys are not supported (rsa or ec)`);
  const name = seq(...[...SUBJECT, ['2.5.4.3', 0x0c, cn] as [string, number, string]].map(([o, tag, v]) => set(seq(oid(o), tlv(tag, Buffer.from(v, 'utf8'))))));
  // keyUsage critical: digitalSignature (+ keyEncipherment, dataEncipherment for RSA, as the installer asks)
  const keyUsage = seq(oid('2.5.29.15'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, rsa ? bits(Buffer.from([0xb0]), 4) : bits(Buffer.from([0x80]), 7)));
  const extKeyUsage = seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.2')))); // clientAuth
  const extensionRequest = seq(oid('1.2.840.113549.1.9.14'), set(seq(keyUsage, extKeyUsage)));
  const info = seq(tlv(0x02, Buffer.from([0])), name, pub.export({ type: 'spki', format: 'der' }), tlv(0xa0, extensionRequest));
  const algorithm = rsa ? seq(oid('1.2.840.113549.1.1.11'), tlv(0x05)) : seq(oid('1.2.840.10045.4.3.2')); // sha256WithRSA / ecdsa-with-SHA256
  const der = seq(info, algorithm, bits(crypto.sign('sha256', info, key)));
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
}
