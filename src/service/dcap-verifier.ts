/**
 * Builds the real verifier for the service: the DCAP QuoteVerifier with
 * - production: the pinned Intel root only, collateral from --collateral-dir,
 *   --pccs, --pcs or --thim (exactly one; cached until the collateral's own nextUpdate);
 * - --simulation --platform DIR: the simulator's root only, collateral from
 *   the simulated platform. Nothing else ever makes the sim root trusted.
 */
import { KubeSgxError } from '../errors.js';
import { CachingCollateralProvider, QuoteVerifier, collateralProviderFor, type CollateralProvider, type VerificationResult } from '../dcap/index.js';
import { qcnlCollateralSource, readQcnlConfig } from '../dcap/qcnl.js';
import { SimPlatform } from '../sim/index.js';
import { ATTESTATION_SERVICE_FLAGS, verifierTrustIssues } from './options.js';
import type { AttestationVerifier, VerifiedQuote } from './verifier.js';


export interface DcapVerifierOptions {
  simulation: boolean;
  platformDir?: string;
  collateralDir?: string;
  pccsUrl?: string;
  /** Intel PCS v4 base URL ('' or undefined with `pcs: true` = Intel's). */
  pcsUrl?: string;
  /** Azure THIM base URL (the node-local endpoint on Azure). */
  thimUrl?: string;
  /** Intel's QCNL configuration file (sgx_default_qcnl.conf): its collateral_service, else pccs_url. */
  qcnlConfigFile?: string;
  now?: () => Date;
}


const STALE = /^(TCB_INFO|QE_IDENTITY|CRL)_(EXPIRED|NOT_YET_VALID)$/;

/** Wraps QuoteVerifier: stale-collateral errors get one stable code; freshness is remembered for /status. */
export class DcapAttestationVerifier implements AttestationVerifier {
  lastCollateralExpiresAt: string | undefined;
  lastVerifiedAt: string | undefined;

  constructor(
    private readonly inner: QuoteVerifier,
    private readonly source: string,
    private readonly trust: string,
  ) {}

  async describe(): Promise<Record<string, unknown>> {
    const expires = this.lastCollateralExpiresAt;
    return {
      source: this.source,
      trust: this.trust,
      lastVerifiedAt: this.lastVerifiedAt ?? null,
      collateralExpiresAt: expires ?? null,
      fresh: expires === undefined ? null : Date.parse(expires) > Date.now(),
    };
  }

  async verify(quote: Uint8Array): Promise<VerifiedQuote> {
    let r: VerificationResult;
    try {
      r = await this.inner.verify(quote);
    } catch (e) {
      if (e instanceof KubeSgxError && STALE.test(e.code)) {
        throw new KubeSgxError('COLLATERAL_EXPIRED', e.message, { cause: e, details: { verifierCode: e.code } });
      }
      throw e;
    }
    this.lastCollateralExpiresAt = r.collateralExpiresAt;
    this.lastVerifiedAt = r.verifiedAt;
    return r;
  }
}

export async function createDcapVerifier(opts: DcapVerifierOptions): Promise<{ verifier: DcapAttestationVerifier }> {
  // The service's options schema checks the same rules first; embedders calling this directly get them too.
  const issue = verifierTrustIssues(opts)[0];
  if (issue) throw new KubeSgxError('CONFIG_INVALID', `${ATTESTATION_SERVICE_FLAGS[issue.path[0]]}: ${issue.message}`, { path: issue.path });
  let provider: CollateralProvider;
  let trustedRoots: string[] | undefined;
  let source: string;
  if (opts.simulation && opts.platformDir !== undefined) {
    const sim = await openSimulatedPlatform(opts.platformDir);
    trustedRoots = [sim.rootCaPem];
    provider = sim.provider;
    source = `simulated platform ${opts.platformDir}`;
  } else {
    ({ provider, description: source } = productionCollateral(opts));
  }
  const cached = new CachingCollateralProvider(provider, { ...(opts.now ? { now: opts.now } : {}), ...(trustedRoots ? { trustedRoots } : {}) });
  const qv = new QuoteVerifier({ collateralProvider: cached, ...(trustedRoots ? { trustedRoots } : {}), ...(opts.now ? { now: opts.now } : {}) });
  const verifier = new DcapAttestationVerifier(qv, source, opts.simulation ? 'simulator root CA only' : 'Intel SGX Root CA (pinned)');
  return { verifier };
}

/** The one production collateral source the options name (the trust rules allow at most one). */
function productionCollateral(opts: DcapVerifierOptions): { provider: CollateralProvider; description: string } {
  if (opts.collateralDir) return collateralProviderFor({ kind: 'directory', dir: opts.collateralDir });
  if (opts.pccsUrl) return collateralProviderFor({ kind: 'pccs', url: opts.pccsUrl });
  if (opts.pcsUrl !== undefined) return collateralProviderFor({ kind: 'pcs', url: opts.pcsUrl });
  if (opts.qcnlConfigFile) {
    // The file the nodes' quote provider library reads: one PCCS setting for quoting and verifying.
    const src = qcnlCollateralSource(readQcnlConfig(opts.qcnlConfigFile));
    const { provider, description } = collateralProviderFor({ kind: src.kind, url: src.baseUrl, ...(src.update ? { update: src.update } : {}) }, { insecureTls: src.insecureTls });
    return { provider, description: `${description} (from ${opts.qcnlConfigFile})` };
  }
  if (opts.thimUrl) return collateralProviderFor({ kind: 'thim', url: opts.thimUrl });
  throw new KubeSgxError('CONFIG_INVALID', 'no collateral source: give --collateral-dir DIR, --pccs URL, --pcs [URL], --thim URL, --qcnl-config FILE, or --simulation --platform DIR');
}

interface SimulatedPlatformTrust {
  rootCaPem: string;
  provider: CollateralProvider;
}

/** The simulated platform's root (the only root trusted in simulation) and its collateral. */
async function openSimulatedPlatform(dir: string): Promise<SimulatedPlatformTrust> {
  const sim = await SimPlatform.open(dir);
  return {
    rootCaPem: sim.rootCaPem,
    provider: {
      getCollateral: async (req) => {
        if (req.fmspc.toUpperCase() !== sim.fmspc.toUpperCase()) {
          throw new KubeSgxError('COLLATERAL_NOT_FOUND', `the simulated platform in ${dir} has collateral for FMSPC ${sim.fmspc} only`, { details: { ...req } });
        }
        await sim.refreshCollateral();
        // TD quotes: TDX TCB Info and TD_QE identity, issued with (and valid as long as) the SGX collateral.
        return req.tee === 'TDX' ? sim.tdxCollateral() : sim.collateral();
      },
    },
  };
}
