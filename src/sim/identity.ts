/**
 * Fixed identities of the simulated platform: its FMSPC and PCE, the PCK's
 * TCB, and the simulated Quoting Enclave (QE3). The QE's MRENCLAVE and
 * MRSIGNER are the same on every simulated platform (as Intel's QE3 is the
 * same binary everywhere) but deliberately not Intel's.
 */
import { createHash } from 'node:crypto';
import { SGX_ATTRIBUTE_FLAGS } from '../sgx/constants.js';

const h = (s: string) => createHash('sha256').update(s).digest();

export type TcbScenario = 'up-to-date' | 'sw-hardening-needed' | 'out-of-date' | 'revoked';
export const TCB_SCENARIOS: readonly TcbScenario[] = ['up-to-date', 'sw-hardening-needed', 'out-of-date', 'revoked'];

/** The TCB status `verifyQuote` reports for each scenario (revoked: the PCK is also on the PCK CRL). */
export const SCENARIO_STATUS: Record<TcbScenario, 'UpToDate' | 'SWHardeningNeeded' | 'OutOfDate' | 'Revoked'> = {
  'up-to-date': 'UpToDate',
  'sw-hardening-needed': 'SWHardeningNeeded',
  'out-of-date': 'OutOfDate',
  revoked: 'Revoked',
};

/** FMSPC of simulated platforms: not a real Intel FMSPC, so caches keyed by FMSPC never mix the two. */
export const SIM_FMSPC = 'F0F05E510000';
export const SIM_PCE_ID = '0000';
/** The PCK certificate's 16 SGX TCB component SVNs and PCESVN. */
export const SIM_PCK_TCB = { components: [12, 12, 3, 3, 255, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], pcesvn: 13 } as const;
/** CPUSVN as real PCKs carry it: the 16 component bytes. */
export const SIM_CPU_SVN = Buffer.from(SIM_PCK_TCB.components);

/** What a simulated quoting enclave (the QE3 or the TD QE) is: its identity and QE authentication data. */
export interface SimQeIdentity {
  readonly mrEnclave: Buffer;
  readonly mrSigner: Buffer;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly miscSelect: number;
  readonly attributes: { readonly flags: bigint; readonly xfrm: bigint };
  readonly authData: Buffer;
}

/**
 * A simulated quoting enclave named `name`: MRENCLAVE and MRSIGNER are hashes
 * of its name (never Intel's values); attributes and auth data as Intel's QEs
 * have them.
 */
export function simulatedQe(name: { enclave: string; signer: string }, isvProdId: number, isvSvn: number): SimQeIdentity {
  return {
    mrEnclave: h(name.enclave),
    mrSigner: h(name.signer),
    isvProdId,
    isvSvn,
    miscSelect: 0,
    /** INIT | MODE64BIT | PROVISIONKEY, DEBUG clear (0x15, as Intel's; verifiers reject a debug QE) */
    attributes: { flags: SGX_ATTRIBUTE_FLAGS.INIT | SGX_ATTRIBUTE_FLAGS.MODE64BIT | SGX_ATTRIBUTE_FLAGS.PROVISIONKEY, xfrm: 0xe7n },
    /** QE authentication data: 32 bytes 00 01 … 1F, as Intel's QE3 and TD QE */
    authData: Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
  };
}

/** The simulated QE3 (Intel's QE3 has ISVPRODID 1; its identity is `QE`). */
export const SIM_QE = simulatedQe({ enclave: 'kube-sgx simulated quoting enclave (QE3) v1', signer: 'kube-sgx simulated quoting enclave signer v1' }, 1, 8);

/** Defaults for `ereport` when the caller names no enclave: a recognisable demo enclave. */
export const SIM_DEFAULT_ENCLAVE = {
  mrEnclave: h('kube-sgx simulated demo enclave'),
  mrSigner: h('kube-sgx simulated demo enclave signer'),
};

/** Attributes of simulated application enclaves: INIT | MODE64BIT (+ DEBUG on request), XFRM x87|SSE|AVX|AVX-512. */
export const SIM_APP_ATTRIBUTES = { flags: SGX_ATTRIBUTE_FLAGS.INIT | SGX_ATTRIBUTE_FLAGS.MODE64BIT, xfrm: 0xe7n };
