/**
 * The simulated TDX side of a platform: TDG.MR.REPORT (a 1,024-byte TDREPORT)
 * and the TD Quoting Enclave that turns one into a v4 or v5 TD quote.
 *
 * The MAC. On hardware the TDX module MACs REPORTMACSTRUCT with a CPU key and
 * the TD QE checks it with EVERIFYREPORT2. Here, as EREPORT's CMAC is modelled
 * (ereport.ts), the key comes from the platform's report secret: the report
 * key of the simulated TD QE's identity (EGETKEY(REPORT) for it), stretched to
 * an HMAC-SHA-256 key — MAC = HMAC-SHA-256(key, REPORTMACSTRUCT[0, 224)), 32
 * bytes as the field is. REPORTMACSTRUCT carries SHA-384 of TEE_TCB_INFO and
 * TDINFO, so the MAC covers the whole report. Only this platform's TD QE holds
 * the key; a report from another platform, or altered, is refused.
 *
 * The TD QE does what Intel's does (quoting_enclave_tdqe.cpp gen_quote):
 * format checks and quote version from the report, MAC, both hashes, then the
 * body copied out of the report (MRSIGNERSEAM and SEAMATTRIBUTES left zero),
 * header with TEE type 0x81, reserved SVN fields zero and the QE ID in user
 * data, ECDSA over header ‖ body, and certification data type 6 wrapping the
 * QE report, its PCK signature, the auth data and the type-5 PCK chain
 * (quoting-enclave.ts, shared with the QE3 in qe.ts).
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { TEE_TYPE } from '../sgx/constants.js';
import { makeTdReport10, makeTdReport15 } from '../sgx/td-report.js';
import {
  TDREPORT_MACED_SIZE,
  TDREPORT_OFFSET,
  TDREPORT_SIZE,
  encodeTdReportStruct,
  parseTdReportStruct,
  tdReportHashesMatch,
  tdReportQuoteKind,
  writeTdQuoteBody,
  type TdReportStruct,
} from '../sgx/tdreport.js';
import { keyTargetOf, type ReportKeys } from './ereport.js';
import { SIM_CPU_SVN } from './identity.js';
import { SimQuoteSigner, qeTargetInfo } from './quoting-enclave.js';
import { SIM_DEFAULT_TD, SIM_TDX_MODULE, SIM_TD_QE } from './td-identity.js';

/** What a simulated TD asks TDG.MR.REPORT for, and what it is. */
export interface TdReportOptions {
  /** up to 64 bytes, zero-padded */
  reportData?: Uint8Array;
  mrTd?: Uint8Array;
  mrConfigId?: Uint8Array;
  mrOwner?: Uint8Array;
  mrOwnerConfig?: Uint8Array;
  /** RTMR0–3 (48 bytes each; missing ones are zero) */
  rtmr?: ReadonlyArray<Uint8Array | undefined>;
  /** a debug TD (TDATTRIBUTES.DEBUG) */
  debug?: boolean;
  /**
   * Which TDX module ABI the report follows, and so which quote Intel's TD QE
   * makes of it: 4 = TDREPORT version 0 (TDX 1.0) → quote v4; 5 = version 1
   * (TDX 1.5, TEE_TCB_SVN2 and SERVTD_HASH) → quote v5 with body type 3. Default 4.
   */
  quoteVersion?: 4 | 5;
}

const ZERO48 = Buffer.alloc(48);

function bytesOf(name: string, v: Uint8Array | undefined, size: number, fallback: Buffer): Buffer {
  if (v === undefined) return fallback;
  if (!(v instanceof Uint8Array) || v.length !== size) throw new KubeSgxError('SIM_BAD_ARGUMENT', `${name}: expected ${size} bytes`, { path: [name] });
  return Buffer.from(v);
}

/** The TDREPORT MAC key of a platform: only its simulated TD QE can derive it. */
export class TdReportMac {
  private readonly key: Buffer;
  /** TARGETINFO of the simulated TD QE (what its report key is bound to) */
  readonly tdQeTargetInfo: Buffer;

  constructor(reportKeys: ReportKeys) {
    this.tdQeTargetInfo = qeTargetInfo(SIM_TD_QE);
    const reportKey = reportKeys.key(keyTargetOf(this.tdQeTargetInfo), reportKeys.keyId);
    this.key = Buffer.concat([reportKey.mac(Buffer.from('kube-sgx TDREPORT MAC key, part 1')), reportKey.mac(Buffer.from('kube-sgx TDREPORT MAC key, part 2'))]);
  }

  mac(maced: Uint8Array): Buffer {
    return createHmac('sha256', this.key).update(maced).digest();
  }

  verify(r: TdReportStruct): boolean {
    return timingSafeEqual(this.mac(r.macedBytes), r.mac);
  }
}

/** Simulated TDG.MR.REPORT: a MACed 1,024-byte TDREPORT for a TD with the given identity. */
export function simulateTdReport(mac: TdReportMac, opts: TdReportOptions = {}): Buffer {
  const version = opts.quoteVersion ?? 4;
  if (version !== 4 && version !== 5) throw new KubeSgxError('SIM_BAD_QUOTE_VERSION', `quote version ${String(version)} is not supported for TDX (4 or 5)`, { path: ['quoteVersion'] });
  const reportData = Buffer.alloc(64);
  if (opts.reportData !== undefined) {
    if (!(opts.reportData instanceof Uint8Array) || opts.reportData.length > 64) throw new KubeSgxError('SIM_BAD_ARGUMENT', 'reportData: at most 64 bytes', { path: ['reportData'] });
    reportData.set(opts.reportData);
  }
  const rtmr = opts.rtmr ?? [];
  if (!Array.isArray(rtmr) || rtmr.length > 4) throw new KubeSgxError('SIM_BAD_ARGUMENT', 'rtmr: at most 4 registers', { path: ['rtmr'] });
  const rtMr = [0, 1, 2, 3].map((i) => bytesOf(`rtmr${i}`, rtmr[i], 48, ZERO48)) as [Buffer, Buffer, Buffer, Buffer];
  const v15 = version === 5;
  const report = encodeTdReportStruct({
    version: v15 ? 1 : 0,
    cpuSvn: SIM_CPU_SVN,
    reportData,
    teeTcbInfo: {
      valid: v15 ? SIM_TDX_MODULE.validV15 : SIM_TDX_MODULE.validV10,
      teeTcbSvn: SIM_TDX_MODULE.teeTcbSvn,
      mrSeam: SIM_TDX_MODULE.mrSeam,
      mrSignerSeam: SIM_TDX_MODULE.mrSignerSeam,
      attributes: SIM_TDX_MODULE.seamAttributes,
      // a TD launched on the current module: TEE_TCB_SVN2 = TEE_TCB_SVN
      ...(v15 ? { teeTcbSvn2: SIM_TDX_MODULE.teeTcbSvn } : {}),
    },
    tdInfo: {
      attributes: SIM_DEFAULT_TD.attributes | (opts.debug ? 1n : 0n),
      xfam: SIM_DEFAULT_TD.xfam,
      mrTd: bytesOf('mrTd', opts.mrTd, 48, SIM_DEFAULT_TD.mrTd),
      mrConfigId: bytesOf('mrConfigId', opts.mrConfigId, 48, ZERO48),
      mrOwner: bytesOf('mrOwner', opts.mrOwner, 48, ZERO48),
      mrOwnerConfig: bytesOf('mrOwnerConfig', opts.mrOwnerConfig, 48, ZERO48),
      rtMr,
      // no service TD bound
      ...(v15 ? { servTdHash: ZERO48 } : {}),
    },
  });
  mac.mac(report.subarray(0, TDREPORT_MACED_SIZE)).copy(report, TDREPORT_OFFSET.MAC);
  return report;
}

export class SimTdQuotingEnclave {
  private readonly signer: SimQuoteSigner<4 | 5>;

  constructor(
    private readonly reportMac: TdReportMac,
    attestationKey: KeyObject,
    pckKey: KeyObject,
    pckChainPem: readonly string[],
    qeId: Buffer,
  ) {
    // QESVN and PCESVN are reserved in v4/v5 headers; Intel's TD QE leaves them zero.
    const header = { teeType: TEE_TYPE.TDX, qeSvn: 0, pceSvn: 0 };
    this.signer = new SimQuoteSigner({
      qe: SIM_TD_QE,
      attestationKey,
      pckKey,
      pckChainPem,
      qeId,
      versions: { 4: { ...header, body: { type: 2, td10: makeTdReport10() } }, 5: { ...header, body: { type: 3, td15: makeTdReport15() } } },
      versionsText: 'for TDX (4 or 5)',
    });
  }

  quoteSize(version: 4 | 5 = 4): number {
    return this.signer.quoteSize(version);
  }

  /**
   * Checks a TDREPORT as Intel's TD QE does and quotes it. Refusals, in
   * Intel's order: TDREPORT_TRUNCATED / TDREPORT_TRAILING_BYTES (not 1,024
   * bytes), TDREPORT_FORMAT_NOT_SUPPORTED (TDQE_REPORT_FORMAT_NOT_SUPPORTED),
   * SIM_INVALID_TD_REPORT (MAC; TDQE_ERROR_INVALID_REPORT),
   * TDREPORT_HASH_MISMATCH (TDQE_ERROR_INVALID_HASH).
   */
  getQuote(tdReport: Uint8Array): Buffer {
    if (!(tdReport instanceof Uint8Array)) {
      throw new KubeSgxError('TDREPORT_TRUNCATED', `TDREPORT: expected ${TDREPORT_SIZE} bytes, got ${typeof tdReport}`, { path: ['tdReport'] });
    }
    const r = parseTdReportStruct(tdReport);
    const kind = tdReportQuoteKind(r);
    if (!this.reportMac.verify(r)) {
      throw new KubeSgxError('SIM_INVALID_TD_REPORT', 'TDREPORT MAC does not verify with the simulated TD QE key: the report was altered, forged, or made on another platform', {
        path: ['tdReport', 'mac'],
      });
    }
    if (!tdReportHashesMatch(r)) {
      throw new KubeSgxError('TDREPORT_HASH_MISMATCH', 'TDREPORT: the SHA-384 of TEE_TCB_INFO or TDINFO does not match REPORTMACSTRUCT', { path: ['tdReport', 'teeTcbInfoHash'] });
    }
    return this.signer.quote(kind.quoteVersion, (body) => writeTdQuoteBody(r, kind, body));
  }
}
