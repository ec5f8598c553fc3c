/**
 * The simulated Quoting Enclave (QE3). At start it does what QE3 does once per
 * attestation key: a QE report targeted at the PCE whose report data binds the
 * attestation key (SHA-256(key x‖y ‖ auth data) ‖ 32 zeros), signed by the PCK
 * key. That and the certification data never change, so each quote version is
 * encoded once (with src/sgx's encoder) as a template; a quote is then the
 * template plus the app report body and one ECDSA signature over bytes [0,432).
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { INTEL_QE_VENDOR_ID, SGX_REPORT_BODY_SIZE, SGX_REPORT_SIZE, SGX_TARGET_INFO_SIZE } from '../sgx/constants.js';
import { pckChainCertificationData } from '../sgx/cert-data.js';
import { encodeQuote, type Quote } from '../sgx/quote.js';
import { encodeReportBody, encodeTargetInfo, makeReportBody, makeTargetInfo, parseReportBody } from '../sgx/report.js';
import { keyTargetOf, type KeyTarget, type ReportKeys } from './ereport.js';
import { SIM_CPU_SVN, SIM_PCK_TCB, SIM_QE } from './identity.js';
import { p256PublicXY } from './keys.js';

/** Offsets in an SGX v3/v4 quote. */
const BODY_OFFSET = 48;
const SIGNED_END = 432;
const SIGNATURE_OFFSET = 436;
const REPORT_DATA_OFFSET = 320;

export interface QeReportInfo {
  nonce: Uint8Array;
  appTargetInfo: Uint8Array;
}

const rawSign = (data: Uint8Array, key: KeyObject) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });

function invalidReport(message: string, details?: Record<string, unknown>): never {
  throw new KubeSgxError('SIM_INVALID_REPORT', message, { path: ['report'], ...(details ? { details } : {}) });
}

export class SimQuotingEnclave {
  readonly targetInfo: Buffer;
  /** the QE's own identity, for EGETKEY */
  private readonly self: KeyTarget;
  /** the QE report body (384) as in quotes; also the base of QE reports for qe_report_info */
  readonly qeReportBody: Buffer;
  private readonly templates = new Map<3 | 4, Buffer>();

  constructor(
    private readonly reportKeys: ReportKeys,
    private readonly attestationKey: KeyObject,
    pckKey: KeyObject,
    pckChainPem: readonly string[],
    qeId: Buffer,
  ) {
    this.targetInfo = encodeTargetInfo(makeTargetInfo({ mrEnclave: SIM_QE.mrEnclave, attributes: SIM_QE.attributes, miscSelect: SIM_QE.miscSelect }));
    this.self = keyTargetOf(this.targetInfo);
    const attXY = p256PublicXY(attestationKey);
    const reportData = Buffer.alloc(64);
    createHash('sha256').update(attXY).update(SIM_QE.authData).digest().copy(reportData);
    this.qeReportBody = encodeReportBody(
      makeReportBody({
        cpuSvn: SIM_CPU_SVN,
        miscSelect: SIM_QE.miscSelect,
        attributes: SIM_QE.attributes,
        mrEnclave: SIM_QE.mrEnclave,
        mrSigner: SIM_QE.mrSigner,
        isvProdId: SIM_QE.isvProdId,
        isvSvn: SIM_QE.isvSvn,
        reportData,
      }),
    );
    // On hardware the QE EREPORTs this body for the PCE, which checks the MAC and signs the
    // 384 bytes with the PCK key; only the body and the signature reach the quote.
    const qeReportSignature = rawSign(this.qeReportBody, pckKey);
    const certificationData = pckChainCertificationData(pckChainPem);
    for (const version of [3, 4] as const) {
      const q: Pick<Quote, 'header' | 'body' | 'signatureData'> = {
        header: {
          version,
          attestationKeyType: 2,
          teeType: 0,
          qeSvn: SIM_QE.isvSvn,
          pceSvn: SIM_PCK_TCB.pcesvn,
          qeVendorId: INTEL_QE_VENDOR_ID,
          userData: Buffer.concat([qeId, Buffer.alloc(4)]),
          qeId,
        },
        body: { type: 1, sgx: makeReportBody() },
        signatureData: {
          signature: Buffer.alloc(64),
          attestationKey: attXY,
          qeReport: parseReportBody(this.qeReportBody),
          qeReportBytes: this.qeReportBody,
          qeReportSignature,
          qeAuthData: SIM_QE.authData,
          certificationData,
        },
      };
      this.templates.set(version, encodeQuote(q));
    }
  }

  quoteSize(version: 3 | 4 = 3): number {
    return this.template(version).length;
  }

  private template(version: unknown): Buffer {
    const t = version === 3 || version === 4 ? this.templates.get(version) : undefined;
    if (!t) throw new KubeSgxError('SIM_BAD_QUOTE_VERSION', `quote version ${String(version)} is not supported (3 or 4)`, { path: ['version'] });
    return t;
  }

  /** Checks the app report's MAC with the QE's report key, then quotes it. */
  getQuote(report: Uint8Array, opts: { version?: 3 | 4; qeReportInfo?: QeReportInfo } = {}): { quote: Buffer; qeReport?: Buffer } {
    if (!(report instanceof Uint8Array) || report.length !== SGX_REPORT_SIZE) {
      invalidReport(`report: expected ${SGX_REPORT_SIZE} bytes, got ${report instanceof Uint8Array ? report.length : typeof report}`);
    }
    const template = this.template(opts.version ?? 3);
    if (!this.reportKeys.verify(report, this.self)) {
      invalidReport('report MAC does not verify with the simulated QE report key: the report was altered, forged, or not targeted at this platform’s QE');
    }
    const quote = Buffer.allocUnsafe(template.length);
    template.copy(quote);
    quote.set(report.subarray(0, SGX_REPORT_BODY_SIZE), BODY_OFFSET);
    rawSign(quote.subarray(0, SIGNED_END), this.attestationKey).copy(quote, SIGNATURE_OFFSET);
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
    const body = Buffer.from(this.qeReportBody);
    body.fill(0, REPORT_DATA_OFFSET);
    createHash('sha256').update(info.nonce).update(quote).digest().copy(body, REPORT_DATA_OFFSET);
    return this.reportKeys.ereport(info.appTargetInfo, body);
  }
}
