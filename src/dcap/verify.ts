/**
 * Public verification API. `verifyQuote` is the one-shot, nothing-cached path;
 * `QuoteVerifier` keeps what it already checked — collateral sets by content,
 * PCK chains by bytes, parsed certificates and public keys — so a warm
 * verification is two P-256 signature checks plus hashing. Both run the same
 * engine, so they give the same answers.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import type { Quote } from '../sgx/quote.js';
import { checkChain } from './chain.js';
import type { Collateral } from './collateral.js';
import { checkCollateral, collateralKey, type CheckedCollateral } from './collateral-check.js';
import { pemCertificates } from './pem.js';
import { CachingCollateralProvider, type CollateralProvider } from './providers.js';
import { parseQuoteBytes, pckInfo, quoteParts } from './quote-parts.js';
import type { VerificationResult } from './result.js';
import { wholeSeconds } from './time.js';
import { trustAnchors, type TrustAnchors } from './trust.js';
import { verifyQuoteParts, type CheckedPck, type PckInfo } from './verify-core.js';
import { CertificateCache, p256RawKey } from './x509.js';

export interface VerifyOptions {
  /** verification time (default: now); whole seconds are used */
  now?: Date;
  /** PEM or DER roots replacing the pinned Intel SGX Root CA */
  trustedRoots?: Array<string | Uint8Array>;
  /**
   * PEM PCK chain (leaf, or leaf + intermediate + root) for quotes whose
   * certification data carries no chain (types 1–4, e.g. Intel's sample
   * quote.dat). A leaf alone is completed with the collateral's PCK CRL issuer chain.
   */
  pckCertChain?: string;
}

class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: K, v: V): void {
    this.map.delete(k);
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as K);
    this.map.set(k, v);
  }
  delete(k: K): void {
    this.map.delete(k);
  }
}

const sha256hex = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Shared verification engine; caches live as long as the engine. */
class Engine {
  /** `oneShot`: nothing outlives the call, so skip computing cache keys */
  constructor(private readonly oneShot = false) {}
  readonly certs = new CertificateCache(512);
  private readonly collaterals = new LruMap<string, CheckedCollateral>(64);
  private readonly collateralByObject = new WeakMap<Collateral, { trustId: string; checked: CheckedCollateral }>();
  private readonly chains = new LruMap<string, CheckedPck>(1024);
  private readonly keys = new LruMap<string, KeyObject>(4096);
  private readonly pckInfos = new WeakMap<object, PckInfo>();

  /** Checked collateral, from cache while inside its validity (the windows are re-checked on every use anyway). */
  collateral(c: Collateral, trust: TrustAnchors, t: number): CheckedCollateral {
    if (this.oneShot) return checkCollateral(c, trust, this.certs);
    // identity is only trusted for frozen objects (parseCollateral's): a mutable one could change after it was checked
    const frozen = Object.isFrozen(c);
    const byObj = frozen ? this.collateralByObject.get(c) : undefined;
    if (byObj && byObj.trustId === trust.id && t <= byObj.checked.expiresAt) return byObj.checked;
    const key = collateralKey(c, trust.id);
    let checked = this.collaterals.get(key);
    if (!checked || t > checked.expiresAt) {
      checked = checkCollateral(c, trust, this.certs);
      this.collaterals.set(key, checked);
    }
    if (frozen) this.collateralByObject.set(c, { trustId: trust.id, checked });
    return checked;
  }

  /** The PCK chain for a quote: explicit option, collateral's, or the quote's own (type 5). */
  pckChainDers(q: Quote, collateral: Collateral, explicit?: string): Uint8Array[] {
    let ders: Uint8Array[];
    const cd = q.signatureData.certificationData;
    const supplied = explicit ?? collateral.pck_certificate_chain;
    if (supplied !== undefined) ders = pemCertificates(supplied, 'pckCertChain');
    else if (cd.type === 5) ders = cd.certificates;
    else if (cd.type === 4) ders = cd.data[0] === 0x30 ? [cd.data] : pemCertificates(cd.data.toString('latin1'), 'PCK certificate (type 4)');
    else {
      throw new KubeSgxError('PCK_CHAIN_MISSING', `the quote carries certification data type ${cd.type} (no PCK chain); supply the PCK certificate chain`, {
        details: { certificationDataType: cd.type },
      });
    }
    if (ders.length === 1) ders = [...ders, ...pemCertificates(collateral.pck_crl_issuer_chain, 'pck_crl_issuer_chain')];
    return ders;
  }

  pck(ders: Uint8Array[], trust: TrustAnchors): CheckedPck {
    const key = this.oneShot ? '' : `${trust.id}:${sha256hex(...ders)}`;
    let pck = this.oneShot ? undefined : this.chains.get(key);
    if (!pck) {
      let certs;
      try {
        certs = ders.map((d) => this.certs.parse(d));
      } catch (e) {
        if (e instanceof KubeSgxError) throw new KubeSgxError('PCK_CHAIN_INVALID', `PCK certificate chain: ${e.message}`, { cause: e, details: { reason: e.code } });
        throw e;
      }
      const chain = checkChain(certs, 'PCK', trust);
      pck = { chain, info: this.pckInfo(chain.leaf) };
      if (!this.oneShot) this.chains.set(key, pck);
    }
    return pck;
  }

  /** The PCK extensions of a (cached, hence shared) parsed certificate, decoded once per certificate. */
  pckInfo(leaf: Parameters<typeof pckInfo>[0]): PckInfo {
    let info = this.pckInfos.get(leaf);
    if (!info) {
      info = pckInfo(leaf);
      this.pckInfos.set(leaf, info);
    }
    return info;
  }

  attestationKey(xy: Uint8Array): KeyObject {
    const k = Buffer.from(xy.buffer, xy.byteOffset, xy.byteLength).toString('latin1');
    let key = this.keys.get(k);
    if (!key) {
      key = p256RawKey(xy);
      this.keys.set(k, key);
    }
    return key;
  }

  parse(quote: Uint8Array | Quote): Quote {
    return quote instanceof Uint8Array ? parseQuoteBytes(quote) : quote;
  }

  verify(q: Quote, collateral: Collateral, trust: TrustAnchors, t: number, pckCertChain?: string): VerificationResult {
    const parts = quoteParts(q);
    const pck = this.pck(this.pckChainDers(q, collateral, pckCertChain), trust);
    const col = this.collateral(collateral, trust, t);
    return verifyQuoteParts(parts, col, pck, (xy) => this.attestationKey(xy), t);
  }
}

function timeOf(now: Date | undefined): number {
  const ms = (now ?? new Date()).getTime();
  if (!Number.isFinite(ms)) throw new KubeSgxError('VERIFY_OPTIONS_INVALID', 'now: invalid date', { path: ['now'] });
  return wholeSeconds(ms);
}

function requireCollateral(c: unknown): asserts c is Collateral {
  if (typeof c !== 'object' || c === null || typeof (c as Collateral).tcb_info !== 'string') {
    throw new KubeSgxError('COLLATERAL_INVALID', 'collateral: expected a Collateral object (see parseCollateral)');
  }
}

/**
 * Verifies a DCAP quote (bytes or a parsed Quote) against collateral, in
 * Intel's order. Returns the result for every TCB status (Revoked included);
 * throws KubeSgxError with a specific code for every other rejection.
 */
export function verifyQuote(quote: Uint8Array | Quote, collateral: Collateral, options: VerifyOptions = {}): VerificationResult {
  requireCollateral(collateral);
  const engine = new Engine(true);
  const trust = trustAnchors(options.trustedRoots);
  return engine.verify(engine.parse(quote), collateral, trust, timeOf(options.now), options.pckCertChain);
}

export interface QuoteVerifierOptions {
  trustedRoots?: Array<string | Uint8Array>;
  /** used when `verify` is called without collateral (wrapped in a nextUpdate-honouring cache) */
  collateralProvider?: CollateralProvider;
  now?: () => Date;
}

/** The cached, fast verifier the attestation service and the demo use. */
export class QuoteVerifier {
  private readonly engine = new Engine();
  private readonly trust: TrustAnchors;
  private readonly provider: CollateralProvider | undefined;
  private readonly now: () => Date;

  constructor(opts: QuoteVerifierOptions = {}) {
    this.trust = trustAnchors(opts.trustedRoots);
    this.now = opts.now ?? (() => new Date());
    this.provider =
      opts.collateralProvider === undefined || opts.collateralProvider instanceof CachingCollateralProvider
        ? opts.collateralProvider
        : new CachingCollateralProvider(opts.collateralProvider, { now: this.now, ...(opts.trustedRoots ? { trustedRoots: opts.trustedRoots } : {}) });
  }

  /** Verifies `quote`; fetches collateral by FMSPC / PCK CA / TEE type when none is given. */
  async verify(quote: Uint8Array, collateral?: Collateral, options: { pckCertChain?: string } = {}): Promise<VerificationResult> {
    const q = this.engine.parse(quote); // once, for the collateral lookup and the verification
    return this.verifySync(q, collateral ?? (await this.collateralFor(q, options.pckCertChain)), options);
  }

  /** Synchronous form when the collateral is at hand. */
  verifySync(quote: Uint8Array | Quote, collateral: Collateral, options: { pckCertChain?: string } = {}): VerificationResult {
    requireCollateral(collateral);
    return this.engine.verify(this.engine.parse(quote), collateral, this.trust, timeOf(this.now()), options.pckCertChain);
  }

  /** The collateral request a quote needs (from its PCK certificate). */
  collateralRequest(quote: Uint8Array | Quote, pckCertChain?: string): { fmspc: string; ca: 'processor' | 'platform'; tee: 'SGX' | 'TDX' } {
    const q = this.engine.parse(quote);
    const cd = q.signatureData.certificationData;
    if (pckCertChain === undefined && cd.type !== 5 && cd.type !== 4) {
      throw new KubeSgxError('PCK_CHAIN_MISSING', `certification data type ${cd.type} carries no PCK certificate; collateral cannot be looked up`);
    }
    const ders = pckCertChain !== undefined ? pemCertificates(pckCertChain, 'pckCertChain') : cd.type === 5 ? cd.certificates : [cd.data];
    const certs = ders.map((d) => this.engine.certs.parse(d));
    const leaf = certs.find((c) => c.subjectCn.includes('SGX PCK Certificate'));
    if (!leaf) throw new KubeSgxError('PCK_CHAIN_INVALID', 'no PCK certificate in the chain');
    return {
      fmspc: this.engine.pckInfo(leaf).fmspc,
      ca: leaf.issuerCn.includes('Platform') ? 'platform' : 'processor',
      tee: q.header.teeType === 0x81 ? 'TDX' : 'SGX',
    };
  }

  private async collateralFor(quote: Quote, pckCertChain?: string): Promise<Collateral> {
    if (!this.provider) throw new KubeSgxError('COLLATERAL_MISSING', 'no collateral given and no collateral provider configured');
    return this.provider.getCollateral(this.collateralRequest(quote, pckCertChain));
  }
}
