/**
 * Trust anchors. Production trusts exactly one certificate: the Intel SGX Root
 * CA, pinned by the SHA-256 of its DER. Any other root (Intel's test roots,
 * the simulator's) is trusted only when passed explicitly, and then replaces
 * the pin: nothing ever falls back to trusting a chain's own root.
 */
import { KubeSgxError } from '../errors.js';
import { certToDer } from './pem.js';
import { missingIntelExtensions, parseCertificate, verifyDerSignature, type Certificate } from './x509.js';

/** SHA-256 of the Intel SGX Root CA's DER (serial 22650CD6…2706AC, valid 2018-05-21 – 2049-12-31). */
export const INTEL_SGX_ROOT_CA_SHA256 = '44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3';

export interface TrustAnchors {
  /** uppercase SHA-256 fingerprints of trusted root DERs */
  fingerprints: ReadonlySet<string>;
  /** stable identity of this set, part of every cache key */
  id: string;
}

export const INTEL_TRUST: TrustAnchors = { fingerprints: new Set([INTEL_SGX_ROOT_CA_SHA256]), id: INTEL_SGX_ROOT_CA_SHA256 };

/** Builds the trust set from PEM/DER roots; undefined or empty → the pinned Intel root. */
export function trustAnchors(roots?: ReadonlyArray<string | Uint8Array>): TrustAnchors {
  if (!roots || roots.length === 0) return INTEL_TRUST;
  const fps = roots.map((r, i) => {
    const cert = parseCertificate(certToDer(r, `trustedRoots[${i}]`));
    const missing = missingIntelExtensions(cert);
    if (missing.length > 0) {
      throw new KubeSgxError('TRUSTED_ROOT_INVALID', `trustedRoots[${i}] lacks extensions Intel's QVL requires in every certificate: ${missing.join(', ')}`, { path: ['trustedRoots', i] });
    }
    if (!cert.isCa || !rootSelfSignatureValid(cert)) {
      throw new KubeSgxError('TRUSTED_ROOT_INVALID', `trustedRoots[${i}] is not a self-signed CA certificate`, { path: ['trustedRoots', i] });
    }
    return cert.fingerprint256;
  });
  const sorted = [...new Set(fps)].sort();
  return { fingerprints: new Set(sorted), id: sorted.join(',') };
}

export function isTrustedRoot(trust: TrustAnchors, cert: Certificate): boolean {
  return trust.fingerprints.has(cert.fingerprint256);
}

/**
 * Trust anchors are identified by the SHA-256 of their whole DER, so their
 * self-signature is a fixed property of those bytes: it is checked once per
 * process (RFC 5280 path validation does not check it at all; Intel's QVL does).
 */
const validatedRoots = new Set<string>();

export function rootSelfSignatureValid(root: Certificate): boolean {
  if (validatedRoots.has(root.fingerprint256)) return true;
  const ok = verifyDerSignature(root.publicKey, root.tbs, root.signature);
  if (ok) validatedRoots.add(root.fingerprint256);
  return ok;
}
