/**
 * The simulated PCK hierarchy, shaped like Intel's (reference dcap.md §2):
 *
 *   Root CA ──┬── PCK Processor CA ── PCK leaf (SGX extension)
 *             └── TCB Signing
 *
 * All P-256 / ecdsa-with-SHA256. Names follow Intel's (Intel QVL finds chain
 * members by CN) with `OU=kube-sgx simulation` added to every subject, so a
 * simulated certificate can never be mistaken for Intel's: trust is by the
 * root's fingerprint anyway, and only when the simulated root is passed
 * explicitly. Certificates and CRLs are built with @peculiar/x509 on Node's
 * WebCrypto.
 *
 * Structure is Intel's, field by field (compared with the production chain in
 * the real quotes, test/sim/pki-structure.test.ts): UTF8String names with a
 * PrintableString country; 20-byte serials; the extensions in Intel's order —
 * Authority Key Identifier (key id only), CRL Distribution Points (one URI),
 * Subject Key Identifier, Key Usage (critical), Basic Constraints (critical),
 * then the SGX extension on the PCK leaf. Intel's QVL refuses any certificate
 * without the first five. CRL DP URIs have Intel's form but point at the
 * simulated PCCS's default address (`kube-sgx sim pccs` serves both paths), never
 * at Intel, whose CRLs a simulated chain must not be checked against.
 */
// @peculiar/x509 needs the Reflect metadata polyfill loaded before it (tsyringe).
import 'reflect-metadata';
import { webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { encodePckExtensionValue, type PckExtensions } from '../sgx/pck-extensions.js';
import { SGX_EXTENSION_OID } from '../sgx/constants.js';
import { deterministicWebCrypto } from './ecdsa-deterministic.js';
import { webKeyPair } from './keys.js';

// @peculiar/x509 types its provider as the DOM Crypto, which Node's webcrypto implements.
type Provider = Parameters<typeof x509.X509CertificateGenerator.create>[1];
const nodeCrypto = webcrypto as unknown as Provider;
/** Node's WebCrypto with deterministic (RFC 6979) ECDSA: seeded platforms get byte-identical certificates. */
export const DETERMINISTIC_CRYPTO = deterministicWebCrypto() as unknown as Provider;
const ALG = { name: 'ECDSA', hash: 'SHA-256' };
const SIM_OU = 'kube-sgx simulation';
const dn = (cn: string) => `CN=${cn}, OU=${SIM_OU}, O=Intel Corporation, L=Santa Clara, ST=CA, C=US`;

export const SUBJECTS = {
  root: dn('Intel SGX Root CA'),
  pckCa: dn('Intel SGX PCK Processor CA'),
  pck: dn('Intel SGX PCK Certificate'),
  tcbSigning: dn('Intel SGX TCB Signing'),
} as const;

const NAME_OIDS: Record<string, string> = { CN: '2.5.4.3', OU: '2.5.4.11', O: '2.5.4.10', L: '2.5.4.7', ST: '2.5.4.8', C: '2.5.4.6' };

/** A subject as Intel encodes it: UTF8String values, PrintableString for the country. */
export function intelName(text: string): x509.Name {
  const rdns = text.split(', ').map((part) => {
    const eq = part.indexOf('=');
    const oid = NAME_OIDS[part.slice(0, eq)];
    if (!oid) throw new Error(`unsupported name attribute in ${JSON.stringify(part)}`);
    const value = part.slice(eq + 1);
    return { [oid]: [oid === NAME_OIDS.C ? { printableString: value } : { utf8String: value }] };
  });
  return new x509.Name(rdns);
}

/** Where `kube-sgx sim pccs` listens by default; the CRL Distribution Points of simulated certificates point there. */
export const SIM_PCCS_DEFAULT_URL = 'http://127.0.0.1:8081';
/** Paths of the CRL Distribution Points, as Intel's: the root CA CRL file, and the PCS PCK CRL query. */
export const SIM_CRL_PATHS = {
  rootCa: '/IntelSGXRootCA.der',
  pckProcessor: '/sgx/certification/v4/pckcrl?ca=processor&encoding=der',
} as const;
export const SIM_CRL_URLS = {
  rootCa: SIM_PCCS_DEFAULT_URL + SIM_CRL_PATHS.rootCa,
  pckProcessor: SIM_PCCS_DEFAULT_URL + SIM_CRL_PATHS.pckProcessor,
} as const;

const KU = x509.KeyUsageFlags;

export interface CertSpec {
  subject: string;
  /** hex, 20 bytes as Intel's */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  key: KeyObject;
  /** undefined for the self-signed root */
  issuer?: { cert: x509.X509Certificate; key: KeyObject };
  ca?: { pathLength: number };
  /** URI of the CRL that lists this certificate (the issuer's CRL) */
  crlUrl: string;
  /** DER of the SGX extension value (PCK leaf only) */
  sgxExtension?: Uint8Array;
  /** WebCrypto provider (default Node's; DETERMINISTIC_CRYPTO for seeded platforms) */
  crypto?: Provider;
}

/** Issues one certificate. */
export async function issueCertificate(spec: CertSpec): Promise<x509.X509Certificate> {
  const crypto = spec.crypto ?? nodeCrypto;
  const keys = await webKeyPair(spec.key);
  const signer = spec.issuer ? await webKeyPair(spec.issuer.key) : keys;
  // Intel's order and criticality (AKI, CRL DP, SKI, KU critical, BC critical[, SGX]).
  const extensions: x509.Extension[] = [
    await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey, false, crypto),
    new x509.CRLDistributionPointsExtension([spec.crlUrl], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    new x509.KeyUsagesExtension(spec.ca ? KU.keyCertSign | KU.cRLSign : KU.digitalSignature | KU.nonRepudiation, true),
    spec.ca ? new x509.BasicConstraintsExtension(true, spec.ca.pathLength, true) : new x509.BasicConstraintsExtension(false, undefined, true),
  ];
  if (spec.sgxExtension) extensions.push(new x509.Extension(SGX_EXTENSION_OID, false, spec.sgxExtension));
  const subject = intelName(spec.subject);
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: spec.serial,
      subject,
      issuer: spec.issuer ? spec.issuer.cert.subjectName : subject,
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      publicKey: keys.publicKey,
      signingKey: signer.privateKey,
      signingAlgorithm: ALG,
      extensions,
    },
    crypto,
  );
}

/** The PCK leaf's SGX extension value (A's encoder, so the verifier's parser reads exactly what we mean). */
export function pckExtensionValue(ext: PckExtensions): Uint8Array {
  return encodePckExtensionValue(ext);
}

/** Minimal DER INTEGER for a non-negative number. */
function derInteger(n: number): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = '00' + hex;
  const body = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

export interface CrlSpec {
  issuerCert: x509.X509Certificate;
  issuerKey: KeyObject;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: number;
  /** hex serials to revoke */
  revoked: string[];
}

const crypto = nodeCrypto;

/** Issues a v2 CRL with the CRL Number and Authority Key Identifier extensions Intel requires. Returns DER. */
export async function issueCrl(spec: CrlSpec): Promise<Buffer> {
  const signer = await webKeyPair(spec.issuerKey);
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: spec.issuerCert.subjectName,
      thisUpdate: spec.thisUpdate,
      nextUpdate: spec.nextUpdate,
      signingAlgorithm: ALG,
      signingKey: signer.privateKey,
      extensions: [new x509.Extension('2.5.29.20', false, derInteger(spec.crlNumber)), await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey, false, crypto)],
      entries: spec.revoked.map((serialNumber) => ({ serialNumber, revocationDate: spec.thisUpdate, reason: x509.X509CrlReason.keyCompromise })),
    },
    crypto,
  );
  return Buffer.from(crl.rawData);
}

export function certPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n';
}
