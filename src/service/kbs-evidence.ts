/**
 * Evidence of a KBS attestation, per `tee`: the quote verified, the active
 * attestation policy applied, and what the binding checks need — the 64
 * REPORTDATA bytes and the init-data field (SGX CONFIGID, 64 bytes; TDX
 * MRCONFIGID, 48 bytes, as Trustee's verifiers compare them).
 */
import { KubeSgxError } from '../errors.js';
import type { ServiceDeps } from './app.js';
import { buildTokenClaims, verifySgxQuote } from './attest.js';
import { KBS_TOKEN_LIFETIME_S, type KbsTee } from './kbs.js';

export interface KbsEvidence {
  /** Token claims (iss, iat, exp, the TEE's identity, the policy's issued claims). */
  claims: Record<string, unknown>;
  reportData: Buffer;
  configId: Buffer;
  tcbStatus: string;
}

export async function verifyKbsEvidence(deps: ServiceDeps, tee: KbsTee, quote: Uint8Array, now: number): Promise<KbsEvidence> {
  if (tee !== 'sgx') throw new KubeSgxError('KBS_TEE_UNSUPPORTED', `tee ${JSON.stringify(tee)} evidence is not verified by this service yet`, { path: ['tee'] });
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
