/**
 * The simulated Quoting Enclave (QE3). At start it certifies its attestation
 * key as QE3 does once per key (quoting-enclave.ts); a quote is then a
 * template plus the app report body and one ECDSA signature over bytes [0,432).
 * Quote v3 carries certification data type 5, v4 type 6 wrapping it.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { SGX_REPORT_BODY_SIZE, SGX_REPORT_SIZE, SGX_TARGET_INFO_SIZE, TEE_TYPE } from '../sgx/constants.js';
import { makeReportBody } from '../sgx/report.js';
import { keyTargetOf, type KeyTarget, type ReportKeys } from './ereport.js';
import { SIM_PCK_TCB, SIM_QE } from './identity.js';
import { SimQuoteSigner, qeTargetInfo } from './quoting-enclave.js';

/** Offset of REPORTDATA in a report body. */
const REPORT_DATA_OFFSET = 320;

export interface QeReportInfo {
  nonce: Uint8Array;
  appTargetInfo: Uint8Array;
}

function invalidReport(message: string, details?: Record<string, unknown>): never {
  throw new KubeSgxError('SIM_INVALID_REPORT', message, { path: ['report'], ...(details ? { details } : {}) });
}

export class SimQuotingEnclave {
  readonly targetInfo: Buffer;
  /** the QE's own identity, for EGETKEY */
  private readonly self: KeyTarget;
  private readonly signer: SimQuoteSigner<3 | 4>;

  constructor(
    private readonly reportKeys: ReportKeys,
    attestationKey: KeyObject,
    pckKey: KeyObject,
    pckChainPem: readonly string[],
    qeId: Buffer,
  ) {
    this.targetInfo = qeTargetInfo(SIM_QE);
    this.self = keyTargetOf(this.targetInfo);
    const spec = { teeType: TEE_TYPE.SGX, qeSvn: SIM_QE.isvSvn, pceSvn: SIM_PCK_TCB.pcesvn, body: { type: 1, sgx: makeReportBody() } } as const;
    this.signer = new SimQuoteSigner({ qe: SIM_QE, attestationKey, pckKey, pckChainPem, qeId, versions: { 3: spec, 4: spec }, versionsText: '(3 or 4)' });
  }

  quoteSize(version: 3 | 4 = 3): number {
    return this.signer.quoteSize(version);
  }

  /** Checks the app report's MAC with the QE's report key, then quotes it. */
  getQuote(report: Uint8Array, opts: { version?: 3 | 4; qeReportInfo?: QeReportInfo } = {}): { quote: Buffer; qeReport?: Buffer } {
    if (!(report instanceof Uint8Array) || report.length !== SGX_REPORT_SIZE) {
      invalidReport(`report: expected ${SGX_REPORT_SIZE} bytes, got ${report instanceof Uint8Array ? report.length : typeof report}`);
    }
    const version = opts.version ?? 3;
    this.signer.checkVersion(version);
    if (!this.reportKeys.verify(report, this.self)) {
      invalidReport('report MAC does not verify with the simulated QE report key: the report was altered, forged, or not targeted at this platform’s QE');
    }
    const quote = this.signer.quote(version, (body) => body.set(report.subarray(0, SGX_REPORT_BODY_SIZE)));
    if (!opts.qeReportInfo) return { quote };
    return { quote, qeReport: this.qeReport(opts.qeReportInfo, quote) };
  }

  /** QE report for qe_report_info: targeted at the app, report data SHA-256(nonce ‖ quote) ‖ 32 zeros. */
  private qeReport(info: QeReportInfo, quote: Buffer): Buffer {
    if (!(info.nonce instanceof Uint8Array) || info.nonce.length !== 16) {
      throw new KubeSgxError('SIM_BAD_QE_REPORT_INFO', 'qeReportInfo.nonce: expected 16 bytes', { path: ['qeReportInfo', 'nonce'] });
    }
    if (!(info.appTargetInfo instanceof Uint8Array) || info.appTargetInfo.length !== SGX_TARGET_INFO_SIZE) {
      throw new KubeSgxError('SIM_BAD_QE_REPORT_INFO', `qeReportInfo.appTargetInfo: expected ${SGX_TARGET_INFO_SIZE} bytes`, { path: ['qeReportInfo', 'appTargetInfo'] });
    }
    // the QE report body the quotes carry, with report data for the app
    const body = Buffer.from(this.signer.qeReportBody);
    body.fill(0, REPORT_DATA_OFFSET);
    createHash('sha256').update(info.nonce).update(quote).digest().copy(body, REPORT_DATA_OFFSET);
    return this.reportKeys.ereport(info.appTargetInfo, body);
  }
}
