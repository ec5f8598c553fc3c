/**
 * The quote-side checks of Intel's verification order (reference dcap.md §5.1
 * steps 5–8), run against collateral and a PCK chain that were already checked
 * (and possibly cached): revocation, time windows, TCB Info / QE Identity fit,
 * the two quote signatures, TCB level selection and status convergence.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import type { CheckedChain } from './chain.js';
import type { CheckedCollateral } from './collateral-check.js';
import type { EnclaveIdentityResult, TdIdentityResult, VerificationResult } from './result.js';
import { convergeTcbStatus, mergeAdvisoryIds, selectIdentityLevel, selectTcbLevel, selectTdxModule, tdRelaunchAdvice } from './tcb.js';
import type { TcbStatus } from './tcb-info.js';
import { checkWindows, earliestExpiry, type TimeWindow } from './time.js';
import { bytesEqual, verifyRawSignature } from './x509.js';

/** The fields of a parsed quote that verification needs (filled from src/sgx's Quote). */
export interface QuoteParts {
  version: number;
  teeType: 'SGX' | 'TDX';
  /** bytes covered by the quote signature (header + body [+ v5 descriptor]) */
  signedRegion: Uint8Array;
  signature: Uint8Array;
  attestationKey: Uint8Array;
  /** the QE report exactly as signed (384 bytes) */
  qeReport: Uint8Array;
  qe: { miscSelect: number; attributes: Uint8Array; mrSigner: Uint8Array; isvProdId: number; isvSvn: number; reportData: Uint8Array };
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** innermost certification data (inside type 6 for v4/v5) */
  certDataType: number;
  certData: Uint8Array;
  /** TDX only */
  tdx?: { teeTcbSvn: Uint8Array; mrSignerSeam: Uint8Array; seamAttributes: Uint8Array; /** TD report 1.5 */ teeTcbSvn2?: Uint8Array };
  enclave?: EnclaveIdentityResult;
  td?: TdIdentityResult;
}

/** The PCK SGX-extension values verification uses. */
export interface PckInfo {
  fmspc: string;
  pceId: string;
  pcesvn: number;
  sgxComponents: number[];
}

export interface CheckedPck {
  chain: CheckedChain;
  info: PckInfo;
}

function mismatch(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new KubeSgxError(code, message, details ? { details } : {});
}

function maskedEqual(actual: Uint8Array, mask: Uint8Array, expected: Uint8Array): boolean {
  if (actual.length !== mask.length || mask.length !== expected.length) return false;
  for (let i = 0; i < actual.length; i++) if ((actual[i] & mask[i]) !== expected[i]) return false;
  return true;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * The quote-side checks for one quote (docs/verifier.md steps 4–8, reference
 * dcap.md §5.1 steps 5–8) as a numbered list: each step a named function below
 * that throws its own codes, run in Intel's order.
 * `attestationKey` turns the quote's raw key into a KeyObject (the caller may
 * cache it); it is called only in step 7. Throws for every rejection except
 * TCB statuses, which are the result.
 */
export function verifyQuoteParts(
  q: QuoteParts,
  col: CheckedCollateral,
  pck: CheckedPck,
  attestationKey: (xy: Uint8Array) => KeyObject,
  t: number,
): VerificationResult {
  // 1. the CRLs belong to the PCK chain, and neither the PCK nor its CA is revoked
  checkRevocation(col, pck.chain);
  // 2. every certificate, CRL, TCB Info and QE Identity is valid at t
  checkTimeWindows(col, pck.chain, t);
  // 3. the TCB Info is for this TEE and this platform (FMSPC, PCE-ID)
  checkTcbInfoFitsPlatform(q, col.tcbInfo, pck.info);
  // 4. TDX: the TDX module is one the TCB Info knows
  const module = q.tdx ? matchTdxModule(col.tcbInfo, q.tdx) : undefined;
  // 5. the QE report is signed by the PCK key and binds the attestation key
  checkQeReport(q, pck.chain.leaf.publicKey);
  // 6. the QE is the one the QE Identity describes; its TCB level
  const qeLevel = matchQeIdentity(q, col.qeIdentity);
  // 7. the quote is signed by the attestation key
  checkQuoteSignature(q, attestationKey);
  // 8. the platform's TCB level, converged with the QE's and the module's
  return tcbResult(q, col, pck, qeLevel, module, t);
}

/** Step 1: the PCK CRL is the one of the CA that issued the PCK, both CRLs share the chain's root, nothing is revoked. */
function checkRevocation(col: CheckedCollateral, chain: CheckedChain): void {
  const intermediate = chain.issuer;
  if (!bytesEqual(col.pckCrl.issuerDer, chain.leaf.issuerDer) || !bytesEqual(col.pckCrlIssuer.subjectDer, intermediate.subjectDer)) {
    mismatch('CRL_UNKNOWN_ISSUER', `the PCK CRL is issued by "${col.pckCrl.issuerCn}", but the PCK certificate by "${chain.leaf.issuerCn}"`);
  }
  if (!bytesEqual(col.pckCrlIssuer.spki, intermediate.spki)) {
    mismatch('CRL_UNKNOWN_ISSUER', `the PCK CRL was signed by a different "${intermediate.subjectCn}" key than the one that issued the PCK certificate`);
  }
  if (col.root.fingerprint256 !== chain.root.fingerprint256) mismatch('CRL_UNKNOWN_ISSUER', 'the root CA CRL and the PCK chain use different roots');
  if (col.rootCrl.revokedSerials.has(intermediate.serialHex)) {
    mismatch('INTERMEDIATE_CA_REVOKED', `"${intermediate.subjectCn}" (serial ${intermediate.serialHex}) is on the root CA CRL`);
  }
  if (col.pckCrl.revokedSerials.has(chain.leaf.serialHex)) {
    mismatch('PCK_REVOKED', `the PCK certificate (serial ${chain.leaf.serialHex}) is on the PCK CRL`, { serial: chain.leaf.serialHex });
  }
}

/** Step 2: both ends of every window, in Intel's order: PCK chain, CRLs, TCB Info (and chain), QE Identity (and chain). */
function checkTimeWindows(col: CheckedCollateral, chain: CheckedChain, t: number): void {
  checkWindows(chain.windows, t);
  checkWindows(col.crlWindows, t);
  checkWindows(col.tcbInfoWindows, t);
  checkWindows(col.qeIdentityWindows, t);
}

/** Step 3: TCB Info id (SGX / TDX), FMSPC and PCE-ID against the quote and the PCK certificate. */
function checkTcbInfoFitsPlatform(q: QuoteParts, info: CheckedCollateral['tcbInfo'], pck: PckInfo): void {
  if (info.id !== q.teeType) mismatch('TCB_INFO_MISMATCH', `TCB Info is for ${info.id}, the quote is ${q.teeType}`);
  if (info.fmspc !== pck.fmspc) {
    mismatch('FMSPC_MISMATCH', `TCB Info is for FMSPC ${info.fmspc}, the PCK certificate says ${pck.fmspc}`, { tcbInfo: info.fmspc, pck: pck.fmspc });
  }
  if (info.pceId !== pck.pceId) mismatch('PCEID_MISMATCH', `TCB Info is for PCE-ID ${info.pceId}, the PCK certificate says ${pck.pceId}`);
}

type TdxModuleMatch = ReturnType<typeof selectTdxModule>;

/** Step 4 (TDX): the module identity for TEE_TCB_SVN; MRSIGNERSEAM and SEAMATTRIBUTES must match it. */
function matchTdxModule(info: CheckedCollateral['tcbInfo'], tdx: NonNullable<QuoteParts['tdx']>): TdxModuleMatch {
  const module = selectTdxModule(info, tdx.teeTcbSvn);
  if (!bytesEqual(tdx.mrSignerSeam, module.mrsigner)) mismatch('TDX_MODULE_MISMATCH', 'MRSIGNERSEAM does not match the TDX module identity');
  const seamZero = tdx.seamAttributes.every((b) => b === 0);
  if (!seamZero || !maskedEqual(tdx.seamAttributes, module.attributesMask, module.attributes)) {
    mismatch('TDX_MODULE_MISMATCH', 'SEAMATTRIBUTES do not match the TDX module identity');
  }
  return module;
}

/** Step 5: the QE report's signature by the PCK key, and its report data = SHA-256(attestation key ‖ QE auth data). */
function checkQeReport(q: QuoteParts, pckKey: KeyObject): void {
  if (!qeReportSignatureVerifies(pckKey, q.qeReport, q.qeReportSignature)) {
    mismatch('QE_REPORT_SIGNATURE_INVALID', 'the QE report signature does not verify with the PCK certificate key');
  }
  const expected = createHash('sha256').update(q.attestationKey).update(q.qeAuthData).digest();
  if (!bytesEqual(q.qe.reportData.subarray(0, 32), expected)) {
    mismatch('QE_REPORT_DATA_MISMATCH', 'QE report data is not SHA-256(attestation key ‖ QE authentication data)');
  }
}

type IdentityLevel = NonNullable<ReturnType<typeof selectIdentityLevel>>;

/** Step 6: QE Identity id (QE / TD_QE), MISCSELECT and ATTRIBUTES under mask, MRSIGNER, ISVPRODID; the QE's TCB level. */
function matchQeIdentity(q: QuoteParts, qeId: CheckedCollateral['qeIdentity']): IdentityLevel {
  const wantId = q.teeType === 'TDX' ? 'TD_QE' : 'QE';
  if (qeId.id !== wantId) mismatch('QE_IDENTITY_MISMATCH', `QE Identity is "${qeId.id}", a ${q.teeType} quote needs "${wantId}"`);
  const misc = Buffer.alloc(4);
  misc.writeUInt32LE(q.qe.miscSelect >>> 0);
  if (!maskedEqual(misc, qeId.miscselectMask, qeId.miscselect)) mismatch('QE_IDENTITY_MISMATCH', 'QE MISCSELECT does not match the QE Identity');
  if (!maskedEqual(q.qe.attributes, qeId.attributesMask, qeId.attributes)) mismatch('QE_IDENTITY_MISMATCH', 'QE ATTRIBUTES do not match the QE Identity');
  if (!bytesEqual(q.qe.mrSigner, qeId.mrsigner)) mismatch('QE_IDENTITY_MISMATCH', 'QE MRSIGNER does not match the QE Identity');
  if (q.qe.isvProdId !== qeId.isvprodid) mismatch('QE_IDENTITY_MISMATCH', `QE ISVPRODID ${q.qe.isvProdId} is not ${qeId.isvprodid}`);
  const qeLevel = selectIdentityLevel(qeId.tcbLevels, q.qe.isvSvn);
  if (!qeLevel) {
    throw new KubeSgxError('TCB_NOT_SUPPORTED', `QE ISVSVN ${q.qe.isvSvn} is below every QE Identity TCB level`, { details: { component: 'QE', isvSvn: q.qe.isvSvn } });
  }
  return qeLevel;
}

/** Step 7: the quote signature over header and body by the attestation key. */
function checkQuoteSignature(q: QuoteParts, attestationKey: (xy: Uint8Array) => KeyObject): void {
  if (!verifyRawSignature(attestationKey(q.attestationKey), q.signedRegion, q.signature)) {
    mismatch('QUOTE_SIGNATURE_INVALID', 'the quote signature does not verify with the attestation key');
  }
}

/** Step 8: the platform TCB level, the status converged with the QE's and the module's, and the result around it. */
function tcbResult(
  q: QuoteParts,
  col: CheckedCollateral,
  pck: CheckedPck,
  qeLevel: IdentityLevel,
  module: TdxModuleMatch | undefined,
  t: number,
): VerificationResult {
  const { chain } = pck;
  const info = col.tcbInfo;
  const level = selectTcbLevel(info, pck.info.sgxComponents, pck.info.pcesvn, q.tdx?.teeTcbSvn);
  const components: TcbStatus[] = [qeLevel.tcbStatus];
  if (module?.level) components.push(module.level.tcbStatus);
  const status = convergeTcbStatus(level.tcbStatus, components);
  const dates = [level.tcbDate, qeLevel.tcbDate, ...(module?.level ? [module.level.tcbDate] : [])];
  const windows: TimeWindow[] = [...chain.windows];
  const expiresAt = Math.min(col.expiresAt, earliestExpiry(windows));

  const result: VerificationResult = {
    status,
    advisoryIds: mergeAdvisoryIds(level.advisoryIds, qeLevel.advisoryIds, module?.level?.advisoryIds ?? []),
    tcbDate: dates.reduce((a, b) => (Date.parse(b) < Date.parse(a) ? b : a)),
    tcbEvaluationDataNumber: Math.min(info.tcbEvaluationDataNumber, col.qeIdentity.tcbEvaluationDataNumber),
    collateralExpiresAt: new Date(expiresAt).toISOString(),
    verifiedAt: new Date(t).toISOString(),
    teeType: q.teeType,
    quoteVersion: q.version,
    fmspc: pck.info.fmspc,
    pceId: pck.info.pceId,
    pckCa: chain.issuer.subjectCn.includes('Platform') ? 'platform' : 'processor',
    platform: { status: level.tcbStatus, tcbDate: level.tcbDate, advisoryIds: level.advisoryIds, pcesvn: pck.info.pcesvn, sgxComponents: pck.info.sgxComponents },
    qeStatus: qeLevel.tcbStatus,
    qe: { isvSvn: q.qe.isvSvn, tcbDate: qeLevel.tcbDate, advisoryIds: qeLevel.advisoryIds },
  };
  if (q.tdx?.teeTcbSvn2) {
    const current = currentTdStatus(info, pck.info, q.tdx.teeTcbSvn2, qeLevel.tcbStatus);
    const advice = tdRelaunchAdvice(status, current);
    if (advice) result.tdRelaunchAdvised = advice;
  }
  if (module) {
    result.tdxModule = { id: module.id, status: module.level?.tcbStatus, tcbDate: module.level?.tcbDate, advisoryIds: module.level?.advisoryIds ?? [] };
  }
  if (q.enclave) result.enclave = q.enclave;
  if (q.td) result.td = q.td;
  return result;
}

/**
 * QE reports whose signature already verified, per PCK key: signature (hex) → the report bytes it covers.
 * A QE signs one report per attestation key and every quote repeats it, so on a warm platform this skips
 * one of the two ECDSA checks per quote. A hit needs the same key, the same signature and byte-equal report,
 * for which the check is deterministic; only successes are remembered, and at most 64 per key.
 */
const verifiedQeReports = new WeakMap<KeyObject, Map<string, Uint8Array>>();

function qeReportSignatureVerifies(pckKey: KeyObject, report: Uint8Array, signature: Uint8Array): boolean {
  const seen = verifiedQeReports.get(pckKey);
  const id = hex(signature);
  const cached = seen?.get(id);
  if (cached && bytesEqual(cached, report)) return true;
  if (!verifyRawSignature(pckKey, report, signature)) return false;
  const memo = seen ?? new Map<string, Uint8Array>();
  if (memo.size >= 64) memo.clear();
  memo.set(id, Uint8Array.from(report));
  if (!seen) verifiedQeReports.set(pckKey, memo);
  return true;
}

/** The converged status a TD 1.5 would have with its current TEE_TCB_SVN2 (undefined when no level matches). */
function currentTdStatus(info: CheckedCollateral['tcbInfo'], pck: PckInfo, teeTcbSvn2: Uint8Array, qeStatus: TcbStatus): TcbStatus | undefined {
  try {
    const level = selectTcbLevel(info, pck.sgxComponents, pck.pcesvn, teeTcbSvn2);
    const module = selectTdxModule(info, teeTcbSvn2);
    return convergeTcbStatus(level.tcbStatus, [qeStatus, ...(module.level ? [module.level.tcbStatus] : [])]);
  } catch (e) {
    if (e instanceof KubeSgxError) return undefined;
    throw e;
  }
}

export { hex as bytesToHex };
