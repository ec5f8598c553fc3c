/** Self-signed certificates: the token signing certificate and a TLS certificate for local runs and tests. */
import { webcrypto, createHash } from 'node:crypto';
// @peculiar/x509 needs a Reflect metadata polyfill loaded before it (tsyringe).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const RSA_ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

export interface GeneratedCert {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  certificatePem: string;
  certificateDer: Uint8Array;
}

async function exportPkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

/** RSA-2048 key and a self-signed certificate valid for `years` (signing keys outlive tokens by far). */
export async function generateSigningCertificate(commonName: string, years = 10): Promise<GeneratedCert> {
  const keys = (await webcrypto.subtle.generateKey(RSA_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeDn(commonName)}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + years * 365 * 86_400_000),
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  return { privateKeyPem: await exportPkcs8Pem(keys.privateKey), certificatePem: cert.toString('pem'), certificateDer: new Uint8Array(cert.rawData) };
}

/** A TLS server certificate for the given IPs/DNS names (tests and local demos, not production). */
export async function generateTlsCertificate(names: { ips?: string[]; dns?: string[] } = { ips: ['127.0.0.1'], dns: ['localhost'] }): Promise<GeneratedCert> {
  const keys = (await webcrypto.subtle.generateKey(RSA_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const sans = [...(names.ips ?? []).map((value) => ({ type: 'ip' as const, value })), ...(names.dns ?? []).map((value) => ({ type: 'dns' as const, value }))];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeDn(names.dns?.[0] ?? names.ips?.[0] ?? 'localhost')}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 86_400_000),
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans),
    ],
  });
  return { privateKeyPem: await exportPkcs8Pem(keys.privateKey), certificatePem: cert.toString('pem'), certificateDer: new Uint8Array(cert.rawData) };
}

function randomSerial(): string {
  // Positive 16-byte serial.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f;
  return Buffer.from(b).toString('hex');
}

function escapeDn(s: string): string {
  return s.replace(/([,+"\\<>;=])/g, '\\$1');
}

/** kid = base64url SHA-256 of the certificate DER: stable across restarts, opaque to clients. */
export function kidForCertificate(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}
