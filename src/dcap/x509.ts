/**
 * X.509 certificates and CRLs as kube-sgx needs them: parsed once with the
 * small DER reader (names, serials, validity, CA constraints, extensions) and
 * checked with Node's native crypto (ECDSA P-256 / SHA-256 signatures over the
 * exact TBS bytes). Nothing here decides trust; chain.ts does.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import { DER_MALFORMED, DER_TAG, childNodes, expectNode, integerHex, nodeBytes, nodeContent, oidString, readNode, readTime, type DerNode } from '../sgx/der.js';

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_AKI = '2.5.29.35';
const OID_CRL_NUMBER = '2.5.29.20';

/**
 * The extensions Intel's QVL requires in every certificate it parses, the trusted
 * root included (REQUIRED_X509_EXTENSIONS, enforced when a certificate is parsed):
 * a chain without one of them is refused there, so it is refused here too.
 */
export const INTEL_REQUIRED_EXTENSIONS = {
  authorityKeyIdentifier: '2.5.29.35',
  cRLDistributionPoints: '2.5.29.31',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: OID_KEY_USAGE,
  basicConstraints: OID_BASIC_CONSTRAINTS,
} as const;

/** Names of the Intel-required extensions `cert` lacks (empty when it has all five). */
export function missingIntelExtensions(cert: Pick<Certificate, 'extensions'>): string[] {
  return Object.entries(INTEL_REQUIRED_EXTENSIONS)
    .filter(([, oid]) => !cert.extensions.has(oid))
    .map(([name]) => name);
}

export const KEY_USAGE = { digitalSignature: 0x80, nonRepudiation: 0x40, keyCertSign: 0x04, cRLSign: 0x02 } as const;

export interface Extension {
  critical: boolean;
  value: Uint8Array;
}

export interface Certificate {
  der: Uint8Array;
  /** SHA-256 of the DER, uppercase hex */
  fingerprint256: string;
  tbs: Uint8Array;
  /** DER ECDSA-Sig-Value */
  signature: Uint8Array;
  serialHex: string;
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  subjectCn: string;
  issuerCn: string;
  notBefore: number;
  notAfter: number;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER */
  spki: Uint8Array;
  /** basicConstraints cA; false when the extension is absent */
  isCa: boolean;
  pathLen: number | undefined;
  /** first keyUsage octet (KEY_USAGE bits), undefined when absent */
  keyUsage: number | undefined;
  extensions: Map<string, Extension>;
  /** memo: fingerprints of issuers whose signature over this certificate was verified */
  verifiedBy: Set<string>;
}

export interface Crl {
  der: Uint8Array;
  tbs: Uint8Array;
  signature: Uint8Array;
  issuerDer: Uint8Array;
  issuerCn: string;
  thisUpdate: number;
  nextUpdate: number;
  revokedSerials: Set<string>;
  crlNumber: string | undefined;
  authorityKeyId: string | undefined;
}

function bad(code: ErrorCode, message: string, cause?: unknown): never {
  throw new KubeSgxError(code, message, cause === undefined ? {} : { cause });
}

function commonName(buf: Uint8Array, name: DerNode): string {
  for (const rdn of childNodes(buf, name)) {
    for (const atv of childNodes(buf, rdn)) {
      const [oid, value] = childNodes(buf, atv);
      if (oid && value && oidString(buf, oid) === OID_CN) return Buffer.from(nodeContent(buf, value)).toString('utf8');
    }
  }
  return '';
}

function bitStringBytes(buf: Uint8Array, t: DerNode, what: string): Uint8Array {
  if (t.tag !== DER_TAG.BIT_STRING || t.end === t.body || buf[t.body] !== 0) {
    throw new KubeSgxError(DER_MALFORMED, `${what}: expected a BIT STRING without unused bits`, { offset: t.start });
  }
  return buf.subarray(t.body + 1, t.end);
}

/**
 * Both AlgorithmIdentifiers of a certificate or CRL: each a SEQUENCE (OpenSSL, and so Intel's
 * QVL, cannot load one that is not: UNSUPPORTED_CERT_FORMAT) and the two byte-identical
 * (RFC 5280 §4.1.1.2, §5.1.1.2). Refused as ALGORITHM_IDENTIFIER_MALFORMED.
 */
function requireAlgorithmPair(buf: Uint8Array, outer: DerNode, inner: DerNode, what: string, tbsName: string): void {
  const bad = (m: string) => {
    throw new KubeSgxError('ALGORITHM_IDENTIFIER_MALFORMED', `${what}: ${m}`, { offset: outer.start });
  };
  if (outer.tag !== DER_TAG.SEQUENCE) bad(`signatureAlgorithm is not a SEQUENCE (tag 0x${outer.tag.toString(16)})`);
  if (inner.tag !== DER_TAG.SEQUENCE) bad(`${tbsName} signature AlgorithmIdentifier is not a SEQUENCE (tag 0x${inner.tag.toString(16)})`);
  if (!bytesEqual(nodeBytes(buf, outer), nodeBytes(buf, inner))) bad(`signatureAlgorithm differs from the one in ${tbsName}`);
}

function requireEcdsaSha256(buf: Uint8Array, algId: DerNode, what: string): void {
  const [oid] = childNodes(buf, algId);
  if (!oid || oidString(buf, oid) !== OID_ECDSA_SHA256) bad('UNSUPPORTED_SIGNATURE_ALGORITHM', `${what}: signature algorithm is not ecdsa-with-SHA256`);
}

function readExtensions(buf: Uint8Array, seq: DerNode): Map<string, Extension> {
  const out = new Map<string, Extension>();
  for (const ext of childNodes(buf, seq)) {
    const parts = childNodes(buf, ext);
    if (parts.length < 2) throw new KubeSgxError(DER_MALFORMED, 'extension: too few fields', { offset: ext.start });
    const oid = oidString(buf, parts[0]);
    const critical = parts.length === 3 && parts[1].tag === DER_TAG.BOOLEAN && buf[parts[1].body] !== 0;
    const value = parts[parts.length - 1];
    if (value.tag !== DER_TAG.OCTET_STRING) throw new KubeSgxError(DER_MALFORMED, `extension ${oid}: value is not an OCTET STRING`, { offset: value.start });
    if (out.has(oid)) bad('CERT_MALFORMED', `duplicate extension ${oid}`);
    out.set(oid, { critical, value: nodeContent(buf, value) });
  }
  return out;
}

/** keyIdentifier [0] of an AuthorityKeyIdentifier, hex. */
function authorityKeyId(value: Uint8Array): string | undefined {
  const seq = expectNode(value, 0, value.length, DER_TAG.SEQUENCE, DER_MALFORMED, ['AuthorityKeyIdentifier']);
  for (const c of childNodes(value, seq)) if (c.tag === 0x80) return Buffer.from(nodeContent(value, c)).toString('hex');
  return undefined;
}

/** Parses one DER certificate. Throws CERT_MALFORMED naming what failed. */
export function parseCertificate(der: Uint8Array): Certificate {
  try {
    const top = expectNode(der, 0, der.length, DER_TAG.SEQUENCE, DER_MALFORMED, ['Certificate']);
    if (top.end !== der.length) bad('CERT_MALFORMED', 'certificate: trailing bytes after the DER');
    const [tbsT, algT, sigT] = childNodes(der, top);
    if (!tbsT || !algT || !sigT || tbsT.tag !== DER_TAG.SEQUENCE) bad('CERT_MALFORMED', 'certificate: expected tbsCertificate, algorithm, signature');
    const f = childNodes(der, tbsT);
    let i = 0;
    if (f[i]?.tag === 0xa0) i++; // [0] version
    const [serialT, sigAlgT, issuerT, validityT, subjectT, spkiT] = f.slice(i, i + 6);
    if (!spkiT || serialT.tag !== DER_TAG.INTEGER || issuerT.tag !== DER_TAG.SEQUENCE || validityT.tag !== DER_TAG.SEQUENCE || subjectT.tag !== DER_TAG.SEQUENCE || spkiT.tag !== DER_TAG.SEQUENCE) {
      bad('CERT_MALFORMED', 'certificate: tbsCertificate fields missing or of the wrong type');
    }
    requireAlgorithmPair(der, algT, sigAlgT, 'certificate', 'tbsCertificate');
    requireEcdsaSha256(der, algT, 'certificate');
    const [nb, na] = childNodes(der, validityT);
    if (!nb || !na) bad('CERT_MALFORMED', 'certificate: validity incomplete');
    let extensions = new Map<string, Extension>();
    for (const t of f.slice(i + 6)) {
      if (t.tag === 0xa3) extensions = readExtensions(der, expectNode(der, t.body, t.end, DER_TAG.SEQUENCE, DER_MALFORMED, ['extensions']));
    }
    let isCa = false;
    let pathLen: number | undefined;
    const bc = extensions.get(OID_BASIC_CONSTRAINTS);
    if (bc) {
      const seq = expectNode(bc.value, 0, bc.value.length, DER_TAG.SEQUENCE, DER_MALFORMED, ['basicConstraints']);
      for (const c of childNodes(bc.value, seq)) {
        if (c.tag === DER_TAG.BOOLEAN) isCa = bc.value[c.body] !== 0;
        else if (c.tag === DER_TAG.INTEGER) pathLen = Number.parseInt(integerHex(bc.value, c), 16);
      }
    }
    let keyUsage: number | undefined;
    const ku = extensions.get(OID_KEY_USAGE);
    if (ku) {
      const bits = readNode(ku.value, 0);
      if (bits.tag !== DER_TAG.BIT_STRING || bits.end - bits.body < 2) bad('CERT_MALFORMED', 'keyUsage: bad BIT STRING');
      keyUsage = ku.value[bits.body + 1];
    }
    const publicKey = p256SpkiKey(der, spkiT);
    return {
      der,
      fingerprint256: createHash('sha256').update(der).digest('hex').toUpperCase(),
      tbs: nodeBytes(der, tbsT),
      signature: bitStringBytes(der, sigT, 'certificate signature'),
      serialHex: integerHex(der, serialT),
      issuerDer: nodeBytes(der, issuerT),
      subjectDer: nodeBytes(der, subjectT),
      subjectCn: commonName(der, subjectT),
      issuerCn: commonName(der, issuerT),
      notBefore: readTime(der, nb),
      notAfter: readTime(der, na),
      publicKey,
      spki: nodeBytes(der, spkiT),
      isCa,
      pathLen,
      keyUsage,
      extensions,
      verifiedBy: new Set(),
    };
  } catch (e) {
    if (e instanceof KubeSgxError && e.code !== DER_MALFORMED) throw e;
    return bad('CERT_MALFORMED', `certificate: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** Parses one DER CRL (v2, ECDSA P-256). Throws CRL_MALFORMED naming what failed. */
export function parseCrl(der: Uint8Array): Crl {
  try {
    const top = expectNode(der, 0, der.length, DER_TAG.SEQUENCE, DER_MALFORMED, ['CertificateList']);
    if (top.end !== der.length) bad('CRL_MALFORMED', 'CRL: trailing bytes after the DER');
    const [tbsT, algT, sigT] = childNodes(der, top);
    if (!tbsT || !algT || !sigT || tbsT.tag !== DER_TAG.SEQUENCE) bad('CRL_MALFORMED', 'CRL: expected tbsCertList, algorithm, signature');
    const f = childNodes(der, tbsT);
    let i = 0;
    if (f[i]?.tag === DER_TAG.INTEGER) i++; // version
    const [sigAlgT, issuerT, thisT] = f.slice(i, i + 3);
    if (!thisT || issuerT.tag !== DER_TAG.SEQUENCE) bad('CRL_MALFORMED', 'CRL: tbsCertList fields missing');
    requireAlgorithmPair(der, algT, sigAlgT, 'CRL', 'tbsCertList');
    requireEcdsaSha256(der, algT, 'CRL');
    let j = i + 3;
    let nextUpdate: number | undefined;
    if (f[j] && (f[j].tag === DER_TAG.UTC_TIME || f[j].tag === DER_TAG.GENERALIZED_TIME)) nextUpdate = readTime(der, f[j++]);
    if (nextUpdate === undefined) bad('CRL_MALFORMED', 'CRL: nextUpdate is missing');
    const revokedSerials = new Set<string>();
    if (f[j]?.tag === DER_TAG.SEQUENCE) {
      for (const entry of childNodes(der, f[j])) {
        const serial = readNode(der, entry.body, entry.end);
        revokedSerials.add(integerHex(der, serial));
      }
      j++;
    }
    let crlNumber: string | undefined;
    let aki: string | undefined;
    if (f[j]?.tag === 0xa0) {
      const exts = readExtensions(der, expectNode(der, f[j].body, f[j].end, DER_TAG.SEQUENCE, DER_MALFORMED, ['crlExtensions']));
      const num = exts.get(OID_CRL_NUMBER);
      if (num) crlNumber = integerHex(num.value, readNode(num.value, 0));
      const a = exts.get(OID_AKI);
      if (a) aki = authorityKeyId(a.value);
    }
    return {
      der,
      tbs: nodeBytes(der, tbsT),
      signature: bitStringBytes(der, sigT, 'CRL signature'),
      issuerDer: nodeBytes(der, issuerT),
      issuerCn: commonName(der, issuerT),
      thisUpdate: readTime(der, thisT),
      nextUpdate,
      revokedSerials,
      crlNumber,
      authorityKeyId: aki,
    };
  } catch (e) {
    if (e instanceof KubeSgxError && e.code !== DER_MALFORMED) throw e;
    return bad('CRL_MALFORMED', `CRL: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** ECDSA (DER signature) over `data` with SHA-256. Never throws on a bad signature. */
export function verifyDerSignature(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', data, key, signature);
  } catch {
    return false;
  }
}

/** ECDSA (raw r‖s signature, as quotes and Intel's JSON carry them) with SHA-256. */
export function verifyRawSignature(key: KeyObject, data: Uint8Array, rs: Uint8Array): boolean {
  if (rs.length !== 64) return false;
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, rs);
  } catch {
    return false;
  }
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_PRIME256V1 = '1.2.840.10045.3.1.7';

/**
 * A P-256 point x‖y as a KeyObject. Imported as JWK: OpenSSL 3 decodes a JWK
 * about twice as fast as SPKI DER, and this runs for every new key.
 */
function p256Key(xy: Uint8Array): KeyObject {
  const b = Buffer.from(xy.buffer, xy.byteOffset, xy.byteLength);
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b.subarray(0, 32).toString('base64url'), y: b.subarray(32, 64).toString('base64url') },
    format: 'jwk',
  });
}

function p256SpkiKey(der: Uint8Array, spki: DerNode): KeyObject {
  const [alg, bits] = childNodes(der, spki);
  const [algOid, curveOid] = alg ? childNodes(der, alg) : [];
  if (!bits || !algOid || !curveOid || oidString(der, algOid) !== OID_EC_PUBLIC_KEY || curveOid.tag !== DER_TAG.OID || oidString(der, curveOid) !== OID_PRIME256V1) {
    bad('UNSUPPORTED_KEY', 'certificate: public key is not ECDSA P-256');
  }
  const point = bitStringBytes(der, bits, 'subjectPublicKey');
  if (point.length !== 65 || point[0] !== 0x04) bad('UNSUPPORTED_KEY', 'certificate: P-256 key is not an uncompressed point');
  try {
    return p256Key(point.subarray(1));
  } catch (e) {
    return bad('CERT_MALFORMED', 'certificate: public key is not a point on P-256', e);
  }
}

/** A raw 64-byte x‖y P-256 public key (quote attestation key) as a KeyObject. */
export function p256RawKey(xy: Uint8Array): KeyObject {
  if (xy.length !== 64) throw new KubeSgxError('ATTESTATION_KEY_INVALID', `attestation key must be 64 bytes, got ${xy.length}`);
  try {
    return p256Key(xy);
  } catch (e) {
    throw new KubeSgxError('ATTESTATION_KEY_INVALID', 'attestation key is not a point on P-256', { cause: e });
  }
}

/** Verifies (once, memoised on the certificate) that `issuer` signed `cert`. */
export function issuedBy(cert: Certificate, issuer: Certificate): boolean {
  if (cert.verifiedBy.has(issuer.fingerprint256)) return true;
  const ok = verifyDerSignature(issuer.publicKey, cert.tbs, cert.signature);
  if (ok) cert.verifiedBy.add(issuer.fingerprint256);
  return ok;
}

/** Parsed certificates by DER content, so a certificate seen again is not parsed (or its signatures checked) again. */
export class CertificateCache {
  private readonly map = new Map<string, Certificate>();
  constructor(private readonly max = 1024) {}

  parse(der: Uint8Array): Certificate {
    const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
    let cert = this.map.get(key);
    if (!cert) {
      cert = parseCertificate(Uint8Array.from(der));
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string);
      this.map.set(key, cert);
    }
    return cert;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
export { bytesEqual };
