/**
 * Certificate chains and CRLs, checked the way Intel's QVL does it plus the
 * checks it leaves out (notBefore): members found by role (subject/issuer),
 * each signed by the one above, CA constraints, the root pinned by fingerprint.
 * Time is checked separately (time.ts) so a checked chain can be cached.
 */
import { KubeSgxError } from '../errors.js';
import { pemCertificates } from './pem.js';
import { isTrustedRoot, rootSelfSignatureValid, type TrustAnchors } from './trust.js';
import { KEY_USAGE, bytesEqual, issuedBy, missingIntelExtensions, parseCertificate, verifyDerSignature, type Certificate, type CertificateCache, type Crl } from './x509.js';
import type { TimeWindow } from './time.js';

export type ChainKind = 'PCK' | 'PCK_CRL' | 'TCB_INFO' | 'QE_IDENTITY';

interface ChainRule {
  label: string;
  length: number;
  leafCn: string;
  leafIsCa: boolean;
}

const RULES: Record<ChainKind, ChainRule> = {
  PCK: { label: 'PCK certificate chain', length: 3, leafCn: 'SGX PCK Certificate', leafIsCa: false },
  PCK_CRL: { label: 'PCK CRL issuer chain', length: 2, leafCn: 'CA', leafIsCa: true },
  TCB_INFO: { label: 'TCB Info issuer chain', length: 2, leafCn: 'SGX TCB Signing', leafIsCa: false },
  QE_IDENTITY: { label: 'QE Identity issuer chain', length: 2, leafCn: 'SGX TCB Signing', leafIsCa: false },
};

/** Root-first path of a checked chain. */
export interface CheckedChain {
  kind: ChainKind;
  /** root, [intermediate], leaf */
  path: Certificate[];
  root: Certificate;
  leaf: Certificate;
  /** the leaf's issuer (the intermediate for PCK chains, the root otherwise) */
  issuer: Certificate;
  windows: TimeWindow[];
}

const sameName = (a: Uint8Array, b: Uint8Array) => bytesEqual(a, b);

/** Parses PEM chain text into certificates (errors carry the chain's code). */
export function parseChainPem(text: string, kind: ChainKind, cache?: CertificateCache): Certificate[] {
  const code = `${kind}_CHAIN_INVALID` as const;
  try {
    return pemCertificates(text, RULES[kind].label).map((der) => (cache ? cache.parse(der) : parseCertificate(der)));
  } catch (e) {
    if (e instanceof KubeSgxError) throw new KubeSgxError(code, `${RULES[kind].label}: ${e.message}`, { cause: e, details: { reason: e.code } });
    throw e;
  }
}

/**
 * Orders `certs` root → leaf by name links, checks signatures, CA constraints
 * and roles, and that the root is trusted. Throws `<KIND>_CHAIN_UNTRUSTED` or
 * `<KIND>_CHAIN_INVALID`.
 */
export function checkChain(certs: Certificate[], kind: ChainKind, trust: TrustAnchors): CheckedChain {
  const rule = RULES[kind];
  const invalid = (msg: string): never => {
    throw new KubeSgxError(`${kind}_CHAIN_INVALID`, `${rule.label}: ${msg}`);
  };
  if (certs.length !== rule.length) invalid(`expected ${rule.length} certificates, got ${certs.length}`);
  const roots = certs.filter((c) => sameName(c.subjectDer, c.issuerDer));
  if (roots.length !== 1) invalid(`expected exactly one self-issued root, found ${roots.length}`);
  const root = roots[0];
  if (!isTrustedRoot(trust, root)) {
    throw new KubeSgxError(`${kind}_CHAIN_UNTRUSTED`, `${rule.label}: root "${root.subjectCn}" (SHA-256 ${root.fingerprint256}) is not a trusted root`, {
      details: { fingerprint: root.fingerprint256 },
    });
  }
  const path = [root];
  const rest = certs.filter((c) => c !== root);
  while (rest.length > 0) {
    const top = path[path.length - 1];
    const idx = rest.findIndex((c) => sameName(c.issuerDer, top.subjectDer));
    if (idx < 0) invalid(`"${rest[0].subjectCn}" is not issued by "${top.subjectCn}"`);
    path.push(rest.splice(idx, 1)[0]);
  }
  if (!rootSelfSignatureValid(root)) invalid(`root "${root.subjectCn}" self-signature is invalid`);
  for (let i = 0; i < path.length; i++) {
    const cert = path[i];
    const isLeaf = i === path.length - 1;
    const missing = missingIntelExtensions(cert);
    if (missing.length > 0) invalid(`"${cert.subjectCn}" lacks extensions Intel requires in every certificate: ${missing.join(', ')}`);
    if (i > 0 && !issuedBy(cert, path[i - 1])) {
      invalid(`signature of "${cert.subjectCn}" by "${path[i - 1].subjectCn}" is invalid`);
    }
    if (!isLeaf || rule.leafIsCa) {
      if (!cert.isCa) invalid(`"${cert.subjectCn}" is not a CA (basicConstraints)`);
      if (cert.keyUsage === undefined || (cert.keyUsage & KEY_USAGE.keyCertSign) === 0) invalid(`"${cert.subjectCn}" may not sign certificates (keyUsage)`);
      const below = path.length - 2 - i; // CA certificates below this one
      if (cert.pathLen !== undefined && below > cert.pathLen) invalid(`"${cert.subjectCn}" pathLenConstraint ${cert.pathLen} exceeded`);
    } else {
      if (cert.isCa) invalid(`leaf "${cert.subjectCn}" must not be a CA`);
      if (cert.keyUsage !== undefined && (cert.keyUsage & KEY_USAGE.digitalSignature) === 0) invalid(`leaf "${cert.subjectCn}" may not sign (keyUsage)`);
    }
  }
  const leaf = path[path.length - 1];
  if (!leaf.subjectCn.includes(rule.leafCn)) invalid(`leaf CN "${leaf.subjectCn}" does not contain "${rule.leafCn}"`);
  if (kind === 'PCK' && !path[1].subjectCn.includes('CA')) invalid(`intermediate CN "${path[1].subjectCn}" does not contain "CA"`);
  return {
    kind,
    path,
    root,
    leaf,
    issuer: path[path.length - 2],
    windows: path.map((c) => ({
      what: `${rule.label}: certificate "${c.subjectCn}"`,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      expiredCode: 'CERT_EXPIRED',
      notYetValidCode: 'CERT_NOT_YET_VALID',
    })),
  };
}

/**
 * A CRL's issuer name, signature (by `signer`), and the extensions Intel
 * requires (CRL Number, Authority Key Identifier).
 */
export function checkCrl(crl: Crl, signer: Certificate, what: string): void {
  if (!sameName(crl.issuerDer, signer.subjectDer)) {
    throw new KubeSgxError('CRL_UNKNOWN_ISSUER', `${what}: issuer "${crl.issuerCn}" is not "${signer.subjectCn}"`);
  }
  if (crl.crlNumber === undefined) throw new KubeSgxError('CRL_INVALID', `${what}: CRL Number extension missing`);
  if (crl.authorityKeyId === undefined) throw new KubeSgxError('CRL_INVALID', `${what}: Authority Key Identifier extension missing`);
  if (!verifyDerSignature(signer.publicKey, crl.tbs, crl.signature)) {
    throw new KubeSgxError('CRL_SIGNATURE_INVALID', `${what}: signature by "${signer.subjectCn}" is invalid`);
  }
}

export function crlWindow(crl: Crl, what: string): TimeWindow {
  return { what, notBefore: crl.thisUpdate, notAfter: crl.nextUpdate, expiredCode: 'CRL_EXPIRED', notYetValidCode: 'CRL_NOT_YET_VALID' };
}
