/**
 * SimPlatform: one simulated SGX machine — its PCK hierarchy and collateral,
 * its report key (EREPORT), and its Quoting Enclave. Opened from a platform
 * directory (created when missing, reused when present).
 */
// @peculiar/x509 needs the Reflect metadata polyfill loaded before it (tsyringe).
import 'reflect-metadata';
import { join } from 'node:path';
import { X509Crl } from '@peculiar/x509';
import { KubeSgxError } from '../errors.js';
import type { Collateral } from '../dcap/collateral.js';
import { verifyQuote } from '../dcap/verify.js';
import { SGX_ATTRIBUTE_FLAGS, SGX_TARGET_INFO_SIZE } from '../sgx/constants.js';
import { encodeReportBody, makeReportBody } from '../sgx/report.js';
import { ReportKeys, keyTargetOf } from './ereport.js';
import { SCENARIO_STATUS, SIM_APP_ATTRIBUTES, SIM_CPU_SVN, SIM_DEFAULT_ENCLAVE, SIM_QE, TCB_SCENARIOS, type TcbScenario } from './identity.js';
import { derive, deriveP256Key, seedFingerprint } from './keys.js';
import { COLLATERAL_REFRESH_MS, createMaterial, generateCollateral, type PlatformMaterial } from './material.js';
import { certPem } from './pki.js';
import { SimQuotingEnclave } from './qe.js';
import { SimTdQuotingEnclave, TdReportMac, simulateTdReport, type TdReportOptions } from './td.js';
import { tdxCollateralFrom } from './tdx-json.js';
import { FILES, createPlatformDir, isEmptyOrMissing, loadPlatform, saveCollateral } from './store.js';

export interface SimPlatformOpenOptions {
  /** derive every key from this seed (same seed → same platform identity) */
  seed?: string;
  /** TCB scenario for a new platform (default up-to-date); must match an existing one */
  scenario?: TcbScenario;
  /** the platform's clock, for creation and collateral re-issue (default: the real time; a fixed date pins it) */
  now?: Date;
}

export interface EreportOptions {
  /** 512-byte TARGETINFO of the enclave that will check the report (the QE: `qeTargetInfo()`) */
  targetInfo: Uint8Array;
  /** up to 64 bytes, zero-padded */
  reportData?: Uint8Array;
  mrEnclave?: Uint8Array;
  mrSigner?: Uint8Array;
  isvProdId?: number;
  isvSvn?: number;
  debug?: boolean;
  /** KSS CONFIGID, exactly 64 bytes (default zero) */
  configId?: Uint8Array;
}

/** Earliest end and latest start of the collateral's validity windows (epoch ms). */
function collateralWindow(c: Collateral): { notBefore: number; notAfter: number } {
  const crls = [c.root_ca_crl, c.pck_crl].map((h) => new X509Crl(Buffer.from(h, 'hex')));
  const docs = [c.tcb_info, c.qe_identity].map((t) => JSON.parse(t) as { issueDate: string; nextUpdate: string });
  const starts = [...crls.map((x) => x.thisUpdate.getTime()), ...docs.map((d) => Date.parse(d.issueDate))];
  const ends = [...crls.map((x) => x.nextUpdate?.getTime() ?? 0), ...docs.map((d) => Date.parse(d.nextUpdate))];
  return { notBefore: Math.max(...starts), notAfter: Math.min(...ends) };
}

function u16(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new KubeSgxError('SIM_BAD_ARGUMENT', `${name}: must be an integer 0–65535, got ${v}`, { path: [name] });
  return v;
}

function bytes32(name: string, v: Uint8Array | undefined, fallback: Buffer): Buffer {
  if (v === undefined) return fallback;
  if (!(v instanceof Uint8Array) || v.length !== 32) throw new KubeSgxError('SIM_BAD_ARGUMENT', `${name}: expected 32 bytes`, { path: [name] });
  return Buffer.from(v);
}

export class SimPlatform {
  readonly dir: string;
  readonly scenario: TcbScenario;
  readonly rootCaPem: string;
  readonly fmspc: string;
  private readonly material: PlatformMaterial;
  private currentCollateral!: Collateral;
  private collateralNotAfter = 0;
  private collateralNotBefore = 0;
  private refreshing: Promise<void> | undefined;
  private readonly clock: () => Date;
  private readonly reportKeys: ReportKeys;
  private readonly qe: SimQuotingEnclave;
  private readonly tdMac: TdReportMac;
  private readonly tdQe: SimTdQuotingEnclave;
  /** TDX collateral, derived from (and cached with) the current SGX collateral */
  private tdx: { from: Collateral; tdx: Collateral } | undefined;

  private constructor(dir: string, material: PlatformMaterial, collateral: Collateral, now: Date | undefined) {
    this.dir = dir;
    this.clock = now ? () => now : () => new Date();
    this.material = material;
    this.scenario = material.meta.scenario;
    this.fmspc = material.meta.fmspc;
    this.rootCaPem = certPem(material.certs.root);
    this.setCollateral(collateral);
    this.reportKeys = new ReportKeys(material.reportSecret, SIM_CPU_SVN, Buffer.from(material.meta.reportKeyId, 'hex'));
    const chain = [material.certs.pck, material.certs.pckCa, material.certs.root].map(certPem);
    this.qe = new SimQuotingEnclave(this.reportKeys, material.keys.attestation, material.keys.pck, chain, Buffer.from(material.meta.qeId, 'hex'));
    // The TD QE's attestation key and QE ID come from the stored report secret (no new files, so
    // platform directories made before TDX support gain it, and seeded platforms agree everywhere).
    this.tdMac = new TdReportMac(this.reportKeys);
    const tdSecret = material.reportSecret;
    this.tdQe = new SimTdQuotingEnclave(this.tdMac, deriveP256Key(tdSecret, 'td-qe-attestation'), material.keys.pck, chain, derive(tdSecret, 'td-qe-id', 16));
  }

  /**
   * Opens the platform in `dir`: creates it when the directory is missing or
   * empty, loads it otherwise. An incomplete or corrupted directory is a
   * KubeSgxError naming the file (SIM_PLATFORM_INCOMPLETE / SIM_PLATFORM_CORRUPT);
   * existing keys are never overwritten. Collateral near expiry is re-issued.
   */
  static async open(dir: string, opts: SimPlatformOpenOptions = {}): Promise<SimPlatform> {
    const now = opts.now ?? new Date();
    if (!Number.isFinite(now.getTime())) throw new KubeSgxError('SIM_BAD_ARGUMENT', 'now: invalid date', { path: ['now'] });
    if (opts.scenario !== undefined && !TCB_SCENARIOS.includes(opts.scenario)) {
      throw new KubeSgxError('SIM_BAD_ARGUMENT', `scenario: ${JSON.stringify(opts.scenario)} is not one of ${TCB_SCENARIOS.join(', ')}`, { path: ['scenario'] });
    }
    if (await isEmptyOrMissing(dir)) {
      const material = await createMaterial({ ...(opts.seed !== undefined ? { seed: opts.seed } : {}), scenario: opts.scenario ?? 'up-to-date', now });
      const collateral = await generateCollateral(material, now);
      if (await createPlatformDir(dir, material, collateral)) return new SimPlatform(dir, material, collateral, opts.now);
      // another process created it meanwhile: fall through and load theirs
    }
    const { material, collateral } = await loadPlatform(dir);
    const meta = material.meta;
    if (opts.scenario !== undefined && opts.scenario !== meta.scenario) {
      throw new KubeSgxError('SIM_SCENARIO_MISMATCH', `${join(dir, FILES.meta)}: the platform was created with scenario ${meta.scenario}, not ${opts.scenario}; use another directory`, {
        path: [join(dir, FILES.meta), 'scenario'],
        details: { existing: meta.scenario, requested: opts.scenario },
      });
    }
    if (opts.seed !== undefined && meta.seedFingerprint !== seedFingerprint(opts.seed)) {
      throw new KubeSgxError('SIM_SEED_MISMATCH', `${join(dir, FILES.meta)}: the platform was not created from this seed; use another directory`, { path: [join(dir, FILES.meta), 'seedFingerprint'] });
    }
    const p = new SimPlatform(dir, material, collateral, opts.now);
    await p.refreshCollateral();
    p.selfTest(join(dir, FILES.collateral));
    return p;
  }

  /**
   * Quotes itself and verifies the quote with the verifier against its own
   * root: a loaded platform whose collateral.json was edited or mixed up with
   * another platform's fails here, naming the file, instead of later in every
   * relying party.
   */
  private selfTest(collateralFile: string): void {
    const { quote } = this.getQuote(this.ereport({ targetInfo: this.qeTargetInfo() }));
    const expected = SCENARIO_STATUS[this.scenario];
    let outcome: string;
    try {
      outcome = verifyQuote(quote, this.currentCollateral, { trustedRoots: [this.rootCaPem], now: this.clock() }).status;
    } catch (e) {
      outcome = e instanceof KubeSgxError ? e.code : String(e);
      if (this.scenario === 'revoked' && outcome === 'PCK_REVOKED') return;
      // a clock outside the certificates' validity is not corruption (the quotes just do not verify at that time)
      if (/EXPIRED|NOT_YET_VALID/.test(outcome)) return;
      throw new KubeSgxError('SIM_PLATFORM_CORRUPT', `${collateralFile}: the platform's own quote does not verify with it (${outcome}: ${e instanceof Error ? e.message : ''})`, {
        path: [collateralFile],
        details: { file: collateralFile },
        cause: e,
      });
    }
    if (outcome !== expected) {
      throw new KubeSgxError('SIM_PLATFORM_CORRUPT', `${collateralFile}: gives status ${outcome}, but the platform's scenario ${this.scenario} means ${expected}`, {
        path: [collateralFile],
        details: { file: collateralFile },
      });
    }
  }

  /**
   * The collateral JSON object for this platform (verify with `trustedRoots: [rootCaPem]`).
   * In a long-running process it is re-issued in the background once less than
   * 30 days of validity remain, so it never expires under a running service.
   */
  collateral(): Collateral {
    if (this.clock().getTime() > this.collateralNotAfter - COLLATERAL_REFRESH_MS && this.refreshing === undefined) {
      this.refreshCollateral().catch(() => {
        /* keep serving the current collateral (still valid for weeks); the next call retries */
      });
    }
    return this.currentCollateral;
  }

  private setCollateral(c: Collateral): void {
    const w = collateralWindow(c);
    this.currentCollateral = c;
    this.collateralNotAfter = w.notAfter;
    this.collateralNotBefore = w.notBefore;
  }

  /** When the current collateral's earliest validity window ends. */
  collateralExpiresAt(): Date {
    return new Date(this.collateralNotAfter);
  }

  /**
   * Re-issues and re-signs the collateral (never the keys) when less than 30
   * days of validity remain at `now`, or when it is not yet valid (clock set
   * back), and saves it. Concurrent calls share one refresh.
   */
  async refreshCollateral(now: Date = this.clock(), force = false): Promise<boolean> {
    if (this.refreshing !== undefined && !force) await this.refreshing.catch(() => undefined); // let an in-flight re-issue finish saving
    const t = now.getTime();
    if (!force && this.collateralNotAfter - t > COLLATERAL_REFRESH_MS && this.collateralNotBefore <= t) return false;
    this.refreshing ??= (async () => {
      try {
        const c = await generateCollateral(this.material, now);
        // serve the new collateral even if it cannot be saved (read-only directory): it is derived data
        this.setCollateral(c);
        await saveCollateral(this.dir, c);
      } finally {
        this.refreshing = undefined;
      }
    })();
    await this.refreshing;
    return true;
  }

  /** The PCK leaf certificate (PEM). */
  pckCertificatePem(): string {
    return certPem(this.material.certs.pck);
  }

  /** TARGETINFO (512 B) of the simulated QE: apps EREPORT against it. */
  qeTargetInfo(): Buffer {
    return Buffer.from(this.qe.targetInfo);
  }

  /** Simulated EREPORT (432 B) from an enclave with the given identity, for the enclave in `targetInfo`. */
  ereport(opts: EreportOptions): Buffer {
    if (!(opts.targetInfo instanceof Uint8Array) || opts.targetInfo.length !== SGX_TARGET_INFO_SIZE) {
      throw new KubeSgxError('SIM_BAD_TARGET_INFO', `targetInfo: expected ${SGX_TARGET_INFO_SIZE} bytes`, { path: ['targetInfo'] });
    }
    const reportData = Buffer.alloc(64);
    if (opts.reportData !== undefined) {
      if (!(opts.reportData instanceof Uint8Array) || opts.reportData.length > 64) {
        throw new KubeSgxError('SIM_BAD_ARGUMENT', 'reportData: at most 64 bytes', { path: ['reportData'] });
      }
      reportData.set(opts.reportData);
    }
    if (opts.configId !== undefined && (!(opts.configId instanceof Uint8Array) || opts.configId.length !== 64)) {
      throw new KubeSgxError('SIM_BAD_ARGUMENT', 'configId: exactly 64 bytes', { path: ['configId'] });
    }
    const flags = SIM_APP_ATTRIBUTES.flags | (opts.debug ? SGX_ATTRIBUTE_FLAGS.DEBUG : 0n);
    const body = encodeReportBody(
      makeReportBody({
        cpuSvn: SIM_CPU_SVN,
        attributes: { flags, xfrm: SIM_APP_ATTRIBUTES.xfrm },
        mrEnclave: bytes32('mrEnclave', opts.mrEnclave, SIM_DEFAULT_ENCLAVE.mrEnclave),
        mrSigner: bytes32('mrSigner', opts.mrSigner, SIM_DEFAULT_ENCLAVE.mrSigner),
        isvProdId: u16('isvProdId', opts.isvProdId),
        isvSvn: u16('isvSvn', opts.isvSvn),
        reportData,
        ...(opts.configId !== undefined ? { configId: Buffer.from(opts.configId) } : {}),
      }),
    );
    return this.reportKeys.ereport(opts.targetInfo, body);
  }

  /**
   * EGETKEY(REPORT) + compare for the enclave described by `selfTargetInfo`:
   * does `report` (432 B) carry a valid MAC for that enclave on this platform?
   * (A simulated app enclave checks the QE report from `getQuote` this way.)
   */
  verifyReport(report: Uint8Array, selfTargetInfo: Uint8Array): boolean {
    return this.reportKeys.verify(report, keyTargetOf(selfTargetInfo));
  }

  /** Size of a quote this platform produces (exact: quotes are not padded). */
  quoteSize(version: 3 | 4 = 3): number {
    return this.qe.quoteSize(version);
  }

  /**
   * The simulated QE3: checks the report's MAC (it must target the QE) —
   * otherwise KubeSgxError SIM_INVALID_REPORT — and returns a v3 (certification
   * data type 5) or v4 (type 6 wrapping type 5) quote; with `qeReportInfo`, also
   * a QE report for the app over SHA-256(nonce ‖ quote).
   */
  getQuote(report: Uint8Array, opts: { version?: 3 | 4; qeReportInfo?: { nonce: Uint8Array; appTargetInfo: Uint8Array } } = {}): { quote: Buffer; qeReport?: Buffer } {
    return this.qe.getQuote(report, opts);
  }

  /**
   * Simulated TDG.MR.REPORT: the 1,024-byte TDREPORT of a TD with the given
   * identity, MACed so that only this platform's TD QE (`getTdQuote`) accepts it.
   */
  tdReport(opts: TdReportOptions = {}): Buffer {
    return simulateTdReport(this.tdMac, opts);
  }

  /**
   * The simulated TD QE: checks a TDREPORT as Intel's does (format, MAC,
   * hashes; see SimTdQuotingEnclave.getQuote for the error codes) and returns
   * a TD quote, v4 or v5 as the report's version decides.
   */
  getTdQuote(tdReport: Uint8Array): Buffer {
    return this.tdQe.getQuote(tdReport);
  }

  /** Size of a TD quote this platform produces (v4: TD report 1.0 body; v5: 1.5). */
  tdQuoteSize(version: 4 | 5 = 4): number {
    return this.tdQe.quoteSize(version);
  }

  /**
   * The TDX collateral (TCB Info id TDX, QE Identity id TD_QE) for this
   * platform, valid over the same window as `collateral()` and re-issued with it.
   */
  tdxCollateral(): Collateral {
    const sgx = this.collateral();
    if (this.tdx?.from !== sgx) this.tdx = { from: sgx, tdx: tdxCollateralFrom(sgx, this.scenario, this.material.keys.tcbSigning) };
    return this.tdx.tdx;
  }

  /**
   * The 256-byte sgx_att_key_id_ext_t of this QE: ECDSA P-256 (algorithm 2),
   * the simulated QE's MRSIGNER and ISVPRODID (reference §2.4).
   */
  attestationKeyId(): Buffer {
    const id = Buffer.alloc(256);
    id.writeUInt16LE(0, 0); // id
    id.writeUInt16LE(0, 2); // version
    id.writeUInt16LE(32, 4); // mrsigner_length
    SIM_QE.mrSigner.copy(id, 6);
    id.writeUInt32LE(SIM_QE.isvProdId, 54);
    id.writeUInt32LE(2, 154); // SGX_QL_ALG_ECDSA_P256
    return id;
  }
}
