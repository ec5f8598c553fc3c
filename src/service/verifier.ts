/**
 * The verification seam. The service needs only "quote bytes in, verified
 * identity and TCB status out"; the composition root (server.ts) plugs in
 * the DCAP QuoteVerifier with the right trust anchors and collateral source.
 * Tests of the HTTP layer may plug in anything with this shape; the
 * end-to-end tests use the real verifier with simulated quotes.
 */
import { X509Certificate } from 'node:crypto';
import { KubeSgxError, isKubeSgxError } from '../errors.js';

/** What the service reads from a verification result (a subset of the verifier's VerificationResult). */
export interface VerifiedQuote {
  status: string;
  advisoryIds: string[];
  teeType: 'SGX' | 'TDX';
  collateralExpiresAt?: string;
  tcbDate?: string;
  enclave?: {
    mrEnclave: string;
    mrSigner: string;
    isvProdId: number;
    isvSvn: number;
    debug: boolean;
    reportData: string;
    attributes?: string;
    configId?: string;
    configSvn?: number;
    isvExtProdId?: string;
    isvFamilyId?: string;
  };
}

export interface AttestationVerifier {
  verify(quote: Uint8Array): Promise<VerifiedQuote>;
  /** Trust and collateral freshness, for /status. */
  describe?(): Promise<Record<string, unknown>>;
}

export interface QuoteHeaderInfo {
  version: number;
  attestationKeyType: number;
  teeType: number;
}

/** Reads the 48-byte quote header just enough to route the quote (and refuse wrong types early). */
export function peekQuoteHeader(quote: Uint8Array): QuoteHeaderInfo {
  if (quote.length < 48) throw new KubeSgxError('INVALID_QUOTE', `quote is ${quote.length} bytes: shorter than its 48-byte header`, { path: ['quote'], offset: 0 });
  const dv = new DataView(quote.buffer, quote.byteOffset, quote.byteLength);
  return { version: dv.getUint16(0, true), attestationKeyType: dv.getUint16(2, true), teeType: dv.getUint32(4, true) };
}

/** Refuses anything that is not an SGX ECDSA quote before spending time verifying it. */
export function assertSgxQuote(quote: Uint8Array): void {
  const h = peekQuoteHeader(quote);
  if (h.teeType === 0x81) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', 'this is a TDX quote; /attest/SgxEnclave takes SGX quotes', { path: ['quote'], offset: 4 });
  if (h.teeType !== 0) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `unknown TEE type 0x${h.teeType.toString(16)} in the quote header`, { path: ['quote'], offset: 4 });
  if (h.version < 3 || h.version > 5) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `quote version ${h.version} is not a DCAP quote (3, 4 or 5)`, { path: ['quote'], offset: 0 });
  if (h.attestationKeyType !== 2 && h.attestationKeyType !== 3) {
    throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `attestation key type ${h.attestationKeyType} is not ECDSA (EPID quotes are not supported)`, { path: ['quote'], offset: 2 });
  }
}

const UNAVAILABLE = /FETCH|UNAVAILABLE|NETWORK|TIMEOUT|PCCS|HTTP/;
const SIM_MARK = 'OU=kube-sgx simulation';

/**
 * The self-signed root of the PEM chain inside a quote's certification data
 * (type 5), if any. Used only to explain a failure, never to decide trust.
 */
export function quoteChainRoot(quote: Uint8Array): X509Certificate | undefined {
  const text = Buffer.from(quote).toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g) ?? [];
  for (const pem of blocks) {
    try {
      const c = new X509Certificate(pem);
      if (c.subject === c.issuer) return c;
    } catch {
      /* not a certificate: ignore */
    }
  }
  return undefined;
}

/**
 * Normalises verifier failures: typed errors about the evidence stay as they
 * are (a 4xx with the verifier's code as problem type); a quote from the
 * simulator at a service not in simulation mode gets its own type (whatever
 * step failed first, e.g. a PCCS that has no collateral for it); collateral
 * that cannot be obtained is a 503; anything untyped is an internal error.
 */
export function classifyVerifierError(e: unknown, quote?: Uint8Array, simulation = false): KubeSgxError {
  if (!simulation && quote) {
    const root = quoteChainRoot(quote);
    if (root && root.subject.split('\n').includes(SIM_MARK)) {
      return new KubeSgxError('SIMULATED_QUOTE_REFUSED', 'this quote comes from the kube-sgx simulator; the service trusts simulated quotes only when started with --simulation --platform DIR', {
        cause: e,
        details: { rootFingerprint: root.fingerprint256, ...(isKubeSgxError(e) ? { verifierCode: e.code } : {}) },
      });
    }
  }
  if (isKubeSgxError(e)) {
    if (UNAVAILABLE.test(e.code)) return new KubeSgxError('COLLATERAL_UNAVAILABLE', e.message, { cause: e, details: { verifierCode: e.code } });
    return e;
  }
  return new KubeSgxError('INTERNAL', `verifier failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
