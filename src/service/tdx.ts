/**
 * Intel TDX trust domains in the attestation pipeline — the one place where
 * a TD quote is checked, verified and mapped to claims, used by MAA's
 * `/attest/TdxVm` (routes/attest.ts) and by Trustee's KBS with `tee: "tdx"`
 * (kbs-evidence.ts).
 *
 * Claim names and formats are MAA's TDX EAT profile (Azure's
 * "trust-domain-extensions-eat-profile" page and its sample token): TD report
 * fields as lower-case hex of the bytes as they stand in the quote,
 * `tdx_seamsvn` as a number, the TDATTRIBUTES bits as booleans,
 * `attester_tcb_status`, `eat_profile`, `dbgstat`, `intuse`.
 */
import { createHash } from 'node:crypto';
import type { TdIdentityResult } from '../dcap/result.js';
import { KubeSgxError, type ErrorPath } from '../errors.js';
import { issueTokenClaims, parseJsonData, type AttestRequest, type IssueContext } from './attest.js';
import { classifyVerifierError, peekQuoteHeader, type AttestationVerifier, type VerifiedQuote } from './verifier.js';

export type VerifiedTdQuote = VerifiedQuote & { td: TdIdentityResult };

/** The EAT profile MAA names in its TDX tokens. */
export const TDX_EAT_PROFILE = 'https://aka.ms/maa-eat-profile-tdxvm';

/** The TD claims every TdxVm token carries (OpenID discovery's claims_supported). */
export const TDX_CLAIMS = [
  'eat_profile', 'dbgstat', 'intuse', 'attester_tcb_status', 'tdx_mrtd', 'tdx_rtmr0', 'tdx_rtmr1', 'tdx_rtmr2', 'tdx_rtmr3', 'tdx_mrseam', 'tdx_mrsignerseam',
  'tdx_mrconfigid', 'tdx_mrowner', 'tdx_mrownerconfig', 'tdx_report_data', 'tdx_seam_attributes', 'tdx_tee_tcb_svn', 'tdx_xfam', 'tdx_seamsvn', 'tdx_td_attributes',
  'tdx_td_attributes_debug', 'tdx_td_attributes_septve_disable', 'tdx_td_attributes_protection_keys', 'tdx_td_attributes_key_locker', 'tdx_td_attributes_perfmon',
] as const;

/** Refuses anything that is not a TD quote (v4/v5, ECDSA) before spending time verifying it. */
export function assertTdQuote(quote: Uint8Array, path: ErrorPath = ['quote'], endpoint = '/attest/TdxVm'): void {
  const h = peekQuoteHeader(quote);
  if (h.teeType === 0) {
    throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `this is an SGX quote (TEE type 0); ${endpoint} takes TD quotes (TEE type 0x81)`, { path, offset: 4, details: { expectedTee: 'TDX', quoteTee: 'SGX' } });
  }
  if (h.teeType !== 0x81) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `unknown TEE type 0x${h.teeType.toString(16)} in the quote header (a TD quote has 0x81)`, { path, offset: 4 });
  if (h.version !== 4 && h.version !== 5) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `TD quote version ${h.version} is not supported (4 or 5)`, { path, offset: 0 });
  if (h.attestationKeyType !== 2 && h.attestationKeyType !== 3) {
    throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `attestation key type ${h.attestationKeyType} is not ECDSA`, { path, offset: 2 });
  }
}

/** Header checks, then the DCAP verifier; the result must be a TD's. */
export async function verifyTdQuote(verifier: AttestationVerifier, quote: Uint8Array, simulation: boolean, path: ErrorPath = ['quote'], endpoint?: string): Promise<VerifiedTdQuote> {
  assertTdQuote(quote, path, endpoint);
  let r: VerifiedQuote & { td?: TdIdentityResult };
  try {
    r = await verifier.verify(quote);
  } catch (e) {
    throw classifyVerifierError(e, quote, simulation);
  }
  if (r.teeType !== 'TDX' || !r.td) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', 'the quote did not verify as a TD quote', { path });
  return r as VerifiedTdQuote;
}

/** TDATTRIBUTES bit `n` (the 8 bytes little-endian, as in the TD report). */
function tdAttributeBit(attributesHex: string, n: number): boolean {
  const byte = parseInt(attributesHex.slice((n >> 3) * 2, (n >> 3) * 2 + 2), 16);
  return Number.isFinite(byte) && (byte & (1 << (n & 7))) !== 0;
}

/** The TDX module SVN: TEE_TCB_SVN bytes 0 (minor) and 1 (major) as a little-endian u16 (MAA: "0d01…" → 269). */
export function seamSvn(teeTcbSvnHex: string): number {
  const b = Buffer.from(teeTcbSvnHex.slice(0, 4), 'hex');
  return b.length === 2 ? b.readUInt16LE(0) : 0;
}

/** The token's TD claims (MAA's TDX profile) and kube-sgx's own verification claims. */
export function tdEvidenceClaims(r: VerifiedTdQuote, simulated: boolean): Record<string, unknown> {
  const td = r.td;
  const hex = (s: string | undefined) => (s ?? '').toLowerCase();
  const attrs = hex(td.tdAttributes);
  const debug = td.debug;
  return {
    'x-ms-attestation-type': 'tdxvm',
    'x-ms-ver': '1.0',
    eat_profile: TDX_EAT_PROFILE,
    intuse: 'generic',
    dbgstat: debug ? 'enabled' : 'disabled',
    attester_tcb_status: r.status,
    tdx_mrtd: hex(td.mrTd),
    tdx_rtmr0: hex(td.rtMr[0]),
    tdx_rtmr1: hex(td.rtMr[1]),
    tdx_rtmr2: hex(td.rtMr[2]),
    tdx_rtmr3: hex(td.rtMr[3]),
    tdx_mrseam: hex(td.mrSeam),
    tdx_mrsignerseam: hex(td.mrSignerSeam),
    tdx_mrconfigid: hex(td.mrConfigId),
    tdx_mrowner: hex(td.mrOwner),
    tdx_mrownerconfig: hex(td.mrOwnerConfig),
    tdx_report_data: hex(td.reportData),
    tdx_seam_attributes: hex(td.seamAttributes),
    tdx_tee_tcb_svn: hex(td.teeTcbSvn),
    tdx_xfam: hex(td.xfam),
    tdx_seamsvn: seamSvn(td.teeTcbSvn),
    tdx_td_attributes: attrs,
    tdx_td_attributes_debug: debug,
    tdx_td_attributes_septve_disable: tdAttributeBit(attrs, 28),
    tdx_td_attributes_protection_keys: tdAttributeBit(attrs, 30),
    tdx_td_attributes_key_locker: tdAttributeBit(attrs, 31),
    tdx_td_attributes_perfmon: tdAttributeBit(attrs, 63),
    'x-kube-sgx-tcb-status': r.status,
    'x-kube-sgx-advisory-ids': [...r.advisoryIds],
    'x-kube-sgx-simulated': simulated,
  };
}

function digest(alg: 'sha256' | 'sha384', b: Uint8Array): Buffer {
  return createHash(alg).update(b).digest();
}

/**
 * MAA's TDX binding: SHA-256 of the decoded runtime data must equal the
 * first 32 bytes of REPORTDATA (bytes 32..63 are not checked). Init-time data
 * is bound to MRCONFIGID (48 bytes): SHA-256 in its first 32 bytes, or
 * SHA-384 as all 48 (what TD launchers such as QEMU's `mrconfigid` and
 * Trustee's init-data put there).
 */
export function tdBindingClaims(req: AttestRequest, td: TdIdentityResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (req.runtimeData) {
    const reportData = Buffer.from(td.reportData, 'hex');
    if (!digest('sha256', req.runtimeData.data).equals(reportData.subarray(0, 32))) {
      throw new KubeSgxError('RUNTIME_DATA_MISMATCH', 'SHA-256 of runtimeData.data does not match the first 32 bytes of the TD quote\'s REPORTDATA', { path: ['runtimeData', 'data'] });
    }
    if (req.runtimeData.dataType === 'JSON') out['x-ms-runtime'] = parseJsonData(req.runtimeData, 'runtimeData');
  }
  if (req.initTimeData) {
    const mrConfigId = Buffer.from(td.mrConfigId, 'hex');
    const data = req.initTimeData.data;
    const bound = digest('sha256', data).equals(mrConfigId.subarray(0, 32)) || digest('sha384', data).equals(mrConfigId);
    if (!bound) {
      throw new KubeSgxError('INIT_DATA_MISMATCH', 'neither SHA-256 of initTimeData.data (first 32 bytes) nor its SHA-384 (all 48) matches the TD\'s MRCONFIGID', { path: ['initTimeData', 'data'] });
    }
    if (req.initTimeData.dataType === 'JSON') out['x-ms-inittime'] = parseJsonData(req.initTimeData, 'initTimeData');
  }
  return out;
}

/** Verified TD evidence + request → the token claims under the TdxVm policy, or ATTESTATION_DENIED. */
export function buildTdTokenClaims(req: AttestRequest, verified: VerifiedTdQuote, ctx: IssueContext): Record<string, unknown> {
  const evidence = Object.assign(tdEvidenceClaims(verified, ctx.simulated), tdBindingClaims(req, verified.td));
  return issueTokenClaims(req, evidence, ctx, { tcbStatus: verified.status, debug: verified.td.debug });
}
