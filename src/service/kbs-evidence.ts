/**
 * Evidence of a KBS attestation, per `tee`: the quote verified, admitted by
 * policy, and what the binding checks need — the 64 REPORTDATA bytes and the
 * init-data field (SGX CONFIGID, 64 bytes; TDX MRCONFIGID, 48 bytes, as
 * Trustee's verifiers compare them).
 *
 * SGX goes through the MAA pipeline and the active SgxEnclave policy. TDX
 * has no MAA policy type here yet, so a fixed rule applies, the same as the
 * default SGX policy's: no debug TD, TCB status UpToDate or SWHardeningNeeded.
 * TD token claims use MAA's TDX claim names (tdx_mrtd, tdx_rtmr0, …).
 */
import { randomBytes } from 'node:crypto';
import type { TdIdentityResult } from '../dcap/result.js';
import { KubeSgxError } from '../errors.js';
import type { ServiceDeps } from './app.js';
import { buildTokenClaims, verifySgxQuote } from './attest.js';
import { KBS_TOKEN_LIFETIME_S, type KbsTee } from './kbs.js';
import { classifyVerifierError, peekQuoteHeader, type VerifiedQuote } from './verifier.js';

export interface KbsEvidence {
  /** Token claims (iss, iat, exp, the TEE's identity, the policy's issued claims). */
  claims: Record<string, unknown>;
  reportData: Buffer;
  configId: Buffer;
  tcbStatus: string;
}

/** TCB statuses a TD may have to be given a KBS token (the default SGX policy's set). */
const TDX_ACCEPTED_TCB = new Set(['UpToDate', 'SWHardeningNeeded']);

export async function verifyKbsEvidence(deps: ServiceDeps, tee: KbsTee, quote: Uint8Array, now: number): Promise<KbsEvidence> {
  return tee === 'tdx' ? verifyTdEvidence(deps, quote, now) : verifySgxEvidence(deps, quote, now);
}

async function verifySgxEvidence(deps: ServiceDeps, quote: Uint8Array, now: number): Promise<KbsEvidence> {
  const verified = await verifySgxQuote(deps.verifier, quote, deps.simulation);
  const policy = await deps.policies.active('SgxEnclave');
  const claims = buildTokenClaims({ quote }, verified, { issuer: deps.signer.issuer, now, simulated: deps.simulation, policy, lifetimeS: KBS_TOKEN_LIFETIME_S });
  return {
    claims,
    reportData: Buffer.from(verified.enclave.reportData, 'hex'),
    configId: Buffer.from(verified.enclave.configId ?? '00'.repeat(64), 'hex'),
    tcbStatus: verified.status,
  };
}

const QUOTE_PATH = ['tee-evidence', 'primary_evidence', 'quote'];

async function verifyTdEvidence(deps: ServiceDeps, quote: Uint8Array, now: number): Promise<KbsEvidence> {
  const h = peekQuoteHeader(quote);
  if (h.teeType !== 0x81) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `the session's tee is tdx but the quote's TEE type is 0x${h.teeType.toString(16)} (a TD quote has 0x81)`, { path: QUOTE_PATH, offset: 4 });
  if (h.version !== 4 && h.version !== 5) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', `TD quote version ${h.version} (4 or 5)`, { path: QUOTE_PATH, offset: 0 });
  let verified: VerifiedQuote & { td?: TdIdentityResult };
  try {
    verified = await deps.verifier.verify(quote);
  } catch (e) {
    throw classifyVerifierError(e, quote, deps.simulation);
  }
  const td = verified.td;
  if (verified.teeType !== 'TDX' || !td) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', 'the quote did not verify as a TD quote', { path: QUOTE_PATH });
  if (td.debug) throw new KubeSgxError('ATTESTATION_DENIED', 'a debug TD (TDATTRIBUTES.DEBUG) is not given a KBS token', { details: { tcbStatus: verified.status, debug: true } });
  if (!TDX_ACCEPTED_TCB.has(verified.status)) {
    throw new KubeSgxError('ATTESTATION_DENIED', `TD TCB status ${verified.status} is not accepted (UpToDate, SWHardeningNeeded)`, { details: { tcbStatus: verified.status, debug: false } });
  }
  const iat = Math.floor(now / 1000);
  const lower = (s: string) => s.toLowerCase();
  const claims: Record<string, unknown> = {
    'x-ms-attestation-type': 'tdxvm',
    'x-ms-ver': '1.0',
    tdx_mrtd: lower(td.mrTd),
    tdx_rtmr0: lower(td.rtMr[0] ?? ''),
    tdx_rtmr1: lower(td.rtMr[1] ?? ''),
    tdx_rtmr2: lower(td.rtMr[2] ?? ''),
    tdx_rtmr3: lower(td.rtMr[3] ?? ''),
    tdx_mrseam: lower(td.mrSeam),
    tdx_mrsignerseam: lower(td.mrSignerSeam),
    tdx_mrconfigid: lower(td.mrConfigId),
    tdx_mrowner: lower(td.mrOwner),
    tdx_mrownerconfig: lower(td.mrOwnerConfig),
    tdx_report_data: lower(td.reportData),
    tdx_seam_attributes: lower(td.seamAttributes),
    tdx_td_attributes: lower(td.tdAttributes),
    tdx_td_attributes_debug: td.debug,
    tdx_tee_tcb_svn: lower(td.teeTcbSvn),
    tdx_xfam: lower(td.xfam),
    attester_tcb_status: verified.status,
    'x-kube-sgx-tcb-status': verified.status,
    'x-kube-sgx-advisory-ids': [...verified.advisoryIds],
    'x-kube-sgx-simulated': deps.simulation,
    iss: deps.signer.issuer,
    iat,
    nbf: iat,
    exp: iat + KBS_TOKEN_LIFETIME_S,
    jti: randomBytes(32).toString('hex'),
  };
  return { claims, reportData: Buffer.from(td.reportData, 'hex'), configId: Buffer.from(td.mrConfigId, 'hex'), tcbStatus: verified.status };
}
