/**
 * Evidence of a KBS attestation, per `tee`: the quote verified, admitted by
 * policy, and what the binding checks need — the 64 REPORTDATA bytes and the
 * init-data field (SGX CONFIGID, 64 bytes; TDX MRCONFIGID, 48 bytes, as
 * Trustee's verifiers compare them).
 *
 * SGX goes through the MAA pipeline and the active SgxEnclave policy; TDX
 * through the same TD path as MAA's /attest/TdxVm (tdx.ts) and the active
 * TdxVm policy (by default: no debug TD, TCB status UpToDate or
 * SWHardeningNeeded), so KBS tokens carry MAA's TDX claims.
 */
import type { ServiceDeps } from './app.js';
import { buildTokenClaims, verifySgxQuote } from './attest.js';
import { KBS_TOKEN_LIFETIME_S, type KbsTee } from './kbs.js';
import { buildTdTokenClaims, verifyTdQuote } from './tdx.js';

export interface KbsEvidence {
  /** Token claims (iss, iat, exp, the TEE's identity, the policy's issued claims). */
  claims: Record<string, unknown>;
  reportData: Buffer;
  configId: Buffer;
  tcbStatus: string;
}

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
  const verified = await verifyTdQuote(deps.verifier, quote, deps.simulation, QUOTE_PATH, 'a KBS session with tee "tdx"');
  const policy = await deps.policies.active('TdxVm');
  const claims = buildTdTokenClaims({ quote }, verified, { issuer: deps.signer.issuer, now, simulated: deps.simulation, policy, lifetimeS: KBS_TOKEN_LIFETIME_S });
  const td = verified.td;
  return { claims, reportData: Buffer.from(td.reportData, 'hex'), configId: Buffer.from(td.mrConfigId, 'hex'), tcbStatus: verified.status };
}
