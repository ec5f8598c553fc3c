/**
 * What the simulated QE3 (qe.ts) and TD QE (td.ts) share, as Intel's QE3 and
 * TD QE do the same. Once per attestation key: a QE report whose report data
 * binds the key (SHA-256(key x‖y ‖ auth data) ‖ 32 zeros), signed with the
 * PCK key as the PCE signs it, and the PCK chain as certification data
 * (type 5). None of that changes between quotes, so each quote version is
 * encoded once as a template; a quote is then its template with the body
 * written in and one ECDSA signature over header (‖ v5 body descriptor) ‖ body.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { QUOTE_HEADER_SIZE, QUOTE_V5_BODY_DESCRIPTOR_SIZE } from '../sgx/constants.js';
import { pckChainCertificationData } from '../sgx/cert-data.js';
import { encodeQuote, encodeQuoteSignedRegion, makeQuoteHeader, type QuoteBody, type QuoteInit } from '../sgx/quote.js';
import { encodeReportBody, encodeTargetInfo, makeReportBody, makeTargetInfo, parseReportBody } from '../sgx/report.js';
import { SIM_CPU_SVN, type SimQeIdentity } from './identity.js';
import { p256PublicXY, signP256Raw } from './keys.js';

/** TARGETINFO of a simulated quoting enclave: what reports for it are targeted at, and its report key is bound to. */
export function qeTargetInfo(qe: SimQeIdentity): Buffer {
  return encodeTargetInfo(makeTargetInfo({ mrEnclave: qe.mrEnclave, attributes: qe.attributes, miscSelect: qe.miscSelect }));
}

/** What one quote version of a QE carries besides the certified key. */
export interface QuoteTemplateSpec {
  teeType: number;
  qeSvn: number;
  pceSvn: number;
  /** a body of the version's type; every quote overwrites it */
  body: QuoteBody;
}

interface QuoteTemplate {
  bytes: Buffer;
  /** where the body starts; the signed region ends where the body does */
  bodyOffset: number;
  signedEnd: number;
}

export interface SimQuoteSignerOptions<V extends number> {
  qe: SimQeIdentity;
  attestationKey: KeyObject;
  pckKey: KeyObject;
  /** PCK certificate, its CA, the root (PEM) */
  pckChainPem: readonly string[];
  /** 16 bytes */
  qeId: Buffer;
  versions: Readonly<Record<V, QuoteTemplateSpec>>;
  /** how SIM_BAD_QUOTE_VERSION names the versions this QE makes, e.g. "for TDX (4 or 5)" */
  versionsText: string;
}

/**
 * One simulated quoting enclave's attestation key, certified by the PCK key,
 * and its quote templates (header ECDSA P-256, Intel's QE vendor ID, user data
 * QE ID ‖ 4 zero bytes, as Intel's QEs write it).
 */
export class SimQuoteSigner<V extends 3 | 4 | 5> {
  /** the QE report body (384 bytes) as every quote carries it */
  readonly qeReportBody: Buffer;
  private readonly attestationKey: KeyObject;
  private readonly versionsText: string;
  private readonly templates = new Map<number, QuoteTemplate>();

  constructor({ qe, attestationKey, pckKey, pckChainPem, qeId, versions, versionsText }: SimQuoteSignerOptions<V>) {
    this.attestationKey = attestationKey;
    this.versionsText = versionsText;
    const attXY = p256PublicXY(attestationKey);
    const reportData = Buffer.alloc(64);
    createHash('sha256').update(attXY).update(qe.authData).digest().copy(reportData);
    this.qeReportBody = encodeReportBody(
      makeReportBody({
        cpuSvn: SIM_CPU_SVN,
        miscSelect: qe.miscSelect,
        attributes: qe.attributes,
        mrEnclave: qe.mrEnclave,
        mrSigner: qe.mrSigner,
        isvProdId: qe.isvProdId,
        isvSvn: qe.isvSvn,
        reportData,
      }),
    );
    // On hardware the QE EREPORTs this body for the PCE, which checks the MAC and signs the
    // 384 bytes with the PCK key; only the body and the signature reach the quote.
    const qeReportSignature = signP256Raw(this.qeReportBody, pckKey);
    const certificationData = pckChainCertificationData(pckChainPem);
    for (const [v, spec] of Object.entries<QuoteTemplateSpec>(versions)) {
      const version = Number(v) as V;
      const q: QuoteInit = {
        header: makeQuoteHeader({ version, teeType: spec.teeType, qeSvn: spec.qeSvn, pceSvn: spec.pceSvn, qeId }),
        body: spec.body,
        signatureData: {
          signature: Buffer.alloc(64),
          attestationKey: attXY,
          qeReport: parseReportBody(this.qeReportBody),
          qeReportSignature,
          qeAuthData: qe.authData,
          certificationData,
        },
      };
      this.templates.set(version, {
        bytes: encodeQuote(q),
        bodyOffset: QUOTE_HEADER_SIZE + (version === 5 ? QUOTE_V5_BODY_DESCRIPTOR_SIZE : 0),
        signedEnd: encodeQuoteSignedRegion(q).length,
      });
    }
  }

  private template(version: unknown): QuoteTemplate {
    const t = typeof version === 'number' ? this.templates.get(version) : undefined;
    if (!t) throw new KubeSgxError('SIM_BAD_QUOTE_VERSION', `quote version ${String(version)} is not supported ${this.versionsText}`, { path: ['version'] });
    return t;
  }

  /** SIM_BAD_QUOTE_VERSION unless this QE makes quotes of `version`. */
  checkVersion(version: unknown): asserts version is V {
    this.template(version);
  }

  /** Bytes in a quote of `version` (SIM_BAD_QUOTE_VERSION for one this QE does not make). */
  quoteSize(version: unknown): number {
    return this.template(version).bytes.length;
  }

  /** A quote of `version`: `writeBody` fills the body over the template's placeholder, then the attestation key signs. */
  quote(version: V, writeBody: (body: Buffer) => void): Buffer {
    const t = this.template(version);
    const quote = Buffer.allocUnsafe(t.bytes.length);
    t.bytes.copy(quote);
    writeBody(quote.subarray(t.bodyOffset, t.signedEnd));
    signP256Raw(quote.subarray(0, t.signedEnd), this.attestationKey).copy(quote, t.signedEnd + 4);
    return quote;
  }
}
