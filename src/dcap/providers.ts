/**
 * Where collateral comes from (reference dcap.md §4): Intel PCS v4, a PCCS,
 * Azure THIM / acccache, a directory of saved files, and a cache in front of
 * any of them that keeps a set until its earliest nextUpdate.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeSgxError } from '../errors.js';
import { collateralFromParts, parseCollateral, type Collateral } from './collateral.js';
import { checkCollateral } from './collateral-check.js';
import { httpGet, issuerChainHeader, type HttpGetOptions } from './http.js';
import { INTEL_TRUST, trustAnchors } from './trust.js';

export interface CollateralRequest {
  /** 12 hex characters */
  fmspc: string;
  ca: 'processor' | 'platform';
  tee: 'SGX' | 'TDX';
}

export interface CollateralProvider {
  getCollateral(req: CollateralRequest): Promise<Collateral>;
}

export const INTEL_PCS_URL = 'https://api.trustedservices.intel.com';
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

const TCB_CHAIN_HEADERS = ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'];
const QE_CHAIN_HEADERS = ['SGX-Enclave-Identity-Issuer-Chain', 'SGX-QE-Identity-Issuer-Chain'];
const CRL_CHAIN_HEADERS = ['SGX-PCK-CRL-Issuer-Chain'];

function checkRequest(req: CollateralRequest): void {
  if (!/^[0-9a-fA-F]{12}$/.test(req.fmspc)) throw new KubeSgxError('COLLATERAL_REQUEST_INVALID', `fmspc: expected 12 hex characters, got ${JSON.stringify(req.fmspc)}`, { path: ['fmspc'] });
  if (req.ca !== 'processor' && req.ca !== 'platform') throw new KubeSgxError('COLLATERAL_REQUEST_INVALID', 'ca: expected processor or platform', { path: ['ca'] });
  if (req.tee !== 'SGX' && req.tee !== 'TDX') throw new KubeSgxError('COLLATERAL_REQUEST_INVALID', 'tee: expected SGX or TDX', { path: ['tee'] });
}

const trimSlash = (u: string) => u.replace(/\/+$/, '');

export interface PcsOptions extends HttpGetOptions {
  /** PCS base URL (default Intel's) */
  baseUrl?: string;
  /** Intel PCS subscription key (Ocp-Apim-Subscription-Key); not needed for collateral */
  apiKey?: string;
  /** where the root CA CRL is fetched (the root certificate's CDP by default) */
  rootCaCrlUrl?: string;
  /** `update=early|standard` */
  update?: 'early' | 'standard';
}

/** Intel PCS API v4 (also any server with the same paths and headers). */
export class PcsCollateralProvider implements CollateralProvider {
  protected readonly base: string;
  protected readonly http: HttpGetOptions;
  constructor(protected readonly opts: PcsOptions = {}) {
    this.base = trimSlash(opts.baseUrl ?? INTEL_PCS_URL);
    this.http = { ...opts, headers: { ...(opts.headers ?? {}), ...(opts.apiKey ? { 'Ocp-Apim-Subscription-Key': opts.apiKey } : {}) } };
  }

  protected updateQuery(): string {
    return this.opts.update ? `&update=${this.opts.update}` : '';
  }

  protected async rootCaCrl(): Promise<Uint8Array> {
    return (await httpGet(this.opts.rootCaCrlUrl ?? INTEL_ROOT_CA_CRL_URL, this.http)).body;
  }

  protected pckCrlUrl(ca: string): string {
    return `${this.base}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
  }

  async getCollateral(req: CollateralRequest): Promise<Collateral> {
    checkRequest(req);
    const tee = req.tee.toLowerCase();
    const crlUrl = this.pckCrlUrl(req.ca);
    const tcbUrl = `${this.base}/${tee}/certification/v4/tcb?fmspc=${req.fmspc.toUpperCase()}${this.updateQuery()}`;
    const qeUrl = `${this.base}/${tee}/certification/v4/qe/identity${this.updateQuery().replace('&', '?')}`;
    const [crl, tcb, qe, root] = await Promise.all([httpGet(crlUrl, this.http), httpGet(tcbUrl, this.http), httpGet(qeUrl, this.http), this.rootCaCrl()]);
    return collateralFromParts({
      pckCrlIssuerChain: issuerChainHeader(crl, crlUrl, ...CRL_CHAIN_HEADERS),
      pckCrl: crl.body,
      rootCaCrl: root,
      tcbInfoIssuerChain: issuerChainHeader(tcb, tcbUrl, ...TCB_CHAIN_HEADERS),
      tcbInfoBody: tcb.body.toString('utf8'),
      qeIdentityIssuerChain: issuerChainHeader(qe, qeUrl, ...QE_CHAIN_HEADERS),
      qeIdentityBody: qe.body.toString('utf8'),
    });
  }
}

/** A PCCS (Intel's caching service): PCS paths under its URL, plus `/sgx/certification/v4/rootcacrl` (hex of DER). */
export class PccsCollateralProvider extends PcsCollateralProvider {
  constructor(url: string, opts: Omit<PcsOptions, 'baseUrl'> = {}) {
    super({ ...opts, baseUrl: url });
  }

  /** PCCS answers hex of DER by default; any of PEM / hex / DER is accepted. */
  protected override pckCrlUrl(ca: string): string {
    return `${this.base}/sgx/certification/v4/pckcrl?ca=${ca}`;
  }

  protected override async rootCaCrl(): Promise<Uint8Array> {
    const url = this.opts.rootCaCrlUrl ?? `${this.base}/sgx/certification/v4/rootcacrl`;
    return (await httpGet(url, this.http)).body;
  }
}

export interface ThimOptions extends HttpGetOptions {
  clientId?: string;
  /** SGX collateral API version in the acccache path; default: the vN of a URL ending in /sgx/certification/vN, else v3 (microsoft/Azure-DCAP-Client dcap_provider.cpp defaults to v4 today) */
  collateralVersion?: string;
}

/** The Intel CRL URLs Azure's DCAP client passes as `pckcrl?uri=` (microsoft/Azure-DCAP-Client src/dcap_provider.cpp). */
export const AZURE_CRL_URIS = {
  root: 'https://certificates.trustedservices.intel.com/intelsgxrootca.crl',
  processor: 'https://certificates.trustedservices.intel.com/intelsgxpckprocessor.crl',
  platform: 'https://api.trustedservices.intel.com/sgx/certification/v3/pckcrl?ca=platform&encoding=pem',
} as const;

/**
 * Azure: SGX collateral from the acccache / THIM agent form
 * (`…/sgx/certification/v4/tcb?fmspc=&clientid=&api-version=…`, CRLs via
 * `pckcrl?uri=<Intel CRL URL>`); TDX collateral from a regional THIM
 * (`/tdx/certification/v4/tcb`, `/sgx/certification/v4/pckcrl?ca=`, `/sgx/certification/v4/rootcacrl`).
 */
export class ThimCollateralProvider implements CollateralProvider {
  private readonly base: string;
  private readonly sgxVersion: string;
  constructor(
    url: string,
    private readonly opts: ThimOptions = {},
  ) {
    // A URL ending in /sgx/certification/vN, as QCNL's pccs_url and Azure's docs write it,
    // names the SGX collateral version too (current Azure DCAP clients use v4).
    const m = /^(.*?)\/sgx\/certification\/(v\d+)\/?$/.exec(url);
    this.base = trimSlash(m ? m[1]! : url);
    this.sgxVersion = opts.collateralVersion ?? m?.[2] ?? 'v3';
  }

  async getCollateral(req: CollateralRequest): Promise<Collateral> {
    checkRequest(req);
    return req.tee === 'TDX' ? this.tdx(req) : this.sgx(req);
  }

  private async sgx(req: CollateralRequest): Promise<Collateral> {
    const client = `clientid=${encodeURIComponent(this.opts.clientId ?? 'production_client')}`;
    const version = this.sgxVersion;
    if (!/^v\d+$/.test(version)) throw new KubeSgxError('COLLATERAL_REQUEST_INVALID', `collateralVersion: expected v<N>, got ${JSON.stringify(version)}`);
    const b = `${this.base}/sgx/certification/${version}`;
    const intelCrl = (uri: string) => `${b}/pckcrl?uri=${encodeURIComponent(uri)}&${client}&api-version=2020-02-12-preview`;
    const crlUrl = intelCrl(AZURE_CRL_URIS[req.ca]);
    const rootUrl = intelCrl(AZURE_CRL_URIS.root);
    const tcbUrl = `${b}/tcb?fmspc=${req.fmspc.toLowerCase()}&${client}&api-version=2018-10-01-preview`;
    const qeUrl = `${b}/qe/identity?${client}&api-version=2018-10-01-preview`;
    return this.fetchParts(crlUrl, rootUrl, tcbUrl, qeUrl);
  }

  private async tdx(req: CollateralRequest): Promise<Collateral> {
    const crlUrl = `${this.base}/sgx/certification/v4/pckcrl?ca=${req.ca}`;
    const rootUrl = `${this.base}/sgx/certification/v4/rootcacrl`;
    const tcbUrl = `${this.base}/tdx/certification/v4/tcb?fmspc=${req.fmspc.toUpperCase()}`;
    const qeUrl = `${this.base}/tdx/certification/v4/qe/identity`;
    return this.fetchParts(crlUrl, rootUrl, tcbUrl, qeUrl);
  }

  /** Fetches the four THIM documents at once and assembles them (issuer chains from the response headers). */
  private async fetchParts(crlUrl: string, rootUrl: string, tcbUrl: string, qeUrl: string): Promise<Collateral> {
    const [crl, root, tcb, qe] = await Promise.all([crlUrl, rootUrl, tcbUrl, qeUrl].map((u) => httpGet(u, this.opts)));
    return collateralFromParts({
      pckCrlIssuerChain: issuerChainHeader(crl, crlUrl, ...CRL_CHAIN_HEADERS),
      pckCrl: crl.body,
      rootCaCrl: root.body,
      tcbInfoIssuerChain: issuerChainHeader(tcb, tcbUrl, ...TCB_CHAIN_HEADERS),
      tcbInfoBody: tcb.body.toString('utf8'),
      qeIdentityIssuerChain: issuerChainHeader(qe, qeUrl, ...QE_CHAIN_HEADERS),
      qeIdentityBody: qe.body.toString('utf8'),
    });
  }
}

/**
 * Saved collateral files: `<dir>/<tee>-<FMSPC>-<ca>.json`, then
 * `<dir>/<FMSPC>.json`, then `<dir>/collateral.json` (collateral JSON format).
 */
export class DirectoryCollateralProvider implements CollateralProvider {
  constructor(private readonly dir: string) {}

  static fileNames(req: CollateralRequest): string[] {
    const f = req.fmspc.toUpperCase();
    return [`${req.tee.toLowerCase()}-${f}-${req.ca}.json`, `${f}.json`, `${f.toLowerCase()}.json`, 'collateral.json'];
  }

  async getCollateral(req: CollateralRequest): Promise<Collateral> {
    checkRequest(req);
    for (const name of DirectoryCollateralProvider.fileNames(req)) {
      let text: string;
      try {
        text = await readFile(join(this.dir, name), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new KubeSgxError('COLLATERAL_FETCH_FAILED', `${join(this.dir, name)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      return parseCollateral(text);
    }
    throw new KubeSgxError('COLLATERAL_NOT_FOUND', `no collateral for ${req.tee} FMSPC ${req.fmspc} (${req.ca}) in ${this.dir}`, { details: { ...req } });
  }
}

export interface CachingOptions {
  now?: () => Date;
  /** roots the collateral's dates are read against (only dates are used; verification checks trust) */
  trustedRoots?: Array<string | Uint8Array>;
  maxEntries?: number;
}

/**
 * Keeps each fetched set until its earliest nextUpdate/notAfter; concurrent
 * requests for the same key share one fetch. Failed fetches are not cached.
 */
export class CachingCollateralProvider implements CollateralProvider {
  private readonly entries = new Map<string, { expiresAt: number; value: Promise<Collateral> }>();
  private readonly now: () => Date;
  constructor(
    private readonly inner: CollateralProvider,
    private readonly opts: CachingOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
  }

  async getCollateral(req: CollateralRequest): Promise<Collateral> {
    checkRequest(req);
    const key = `${req.tee}/${req.fmspc.toUpperCase()}/${req.ca}`;
    const t = this.now().getTime();
    const hit = this.entries.get(key);
    if (hit && t < hit.expiresAt) return hit.value;
    const entry = { expiresAt: Infinity, value: this.inner.getCollateral(req) };
    this.entries.set(key, entry);
    try {
      const c = await entry.value;
      entry.expiresAt = expiryOf(c, this.opts.trustedRoots);
      if (this.entries.size > (this.opts.maxEntries ?? 256)) this.entries.delete(this.entries.keys().next().value as string);
      return c;
    } catch (e) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw e;
    }
  }
}

/** Earliest nextUpdate/notAfter of a collateral set (checked against the given or pinned roots). */
function expiryOf(c: Collateral, roots?: Array<string | Uint8Array>): number {
  try {
    return checkCollateral(c, roots ? trustAnchors(roots) : INTEL_TRUST).expiresAt;
  } catch {
    return 0; // unverifiable now: do not cache; verification reports why
  }
}

/** A collateral source as the attestation service and `kube-sgx collateral fetch` are told it. */
export type CollateralSource =
  | { kind: 'directory'; dir: string }
  | { kind: 'pccs'; url: string; update?: 'early' | 'standard' }
  /** url '' or absent: Intel's PCS */
  | { kind: 'pcs'; url?: string; update?: 'early' | 'standard' }
  | { kind: 'thim'; url: string };

/** The provider a source means, and how logs and /status name it. */
export function collateralProviderFor(source: CollateralSource, http: HttpGetOptions = {}): { provider: CollateralProvider; description: string } {
  switch (source.kind) {
    case 'directory':
      return { provider: new DirectoryCollateralProvider(source.dir), description: `directory ${source.dir}` };
    case 'pccs':
      return { provider: new PccsCollateralProvider(source.url, { ...http, ...(source.update ? { update: source.update } : {}) }), description: `PCCS ${source.url}` };
    case 'pcs': {
      const baseUrl = source.url || INTEL_PCS_URL;
      return { provider: new PcsCollateralProvider({ ...http, baseUrl, ...(source.update ? { update: source.update } : {}) }), description: `Intel PCS ${baseUrl}` };
    }
    case 'thim':
      return { provider: new ThimCollateralProvider(source.url, http), description: `Azure THIM ${source.url}` };
  }
}
