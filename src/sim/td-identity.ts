/**
 * Fixed identities of the simulated TDX side of a platform: the TDX module
 * (TEE_TCB_SVN, MRSEAM), the simulated TD Quoting Enclave, and the TDs a
 * simulated TDG.MR.REPORT describes when the caller names nothing. Shaped like
 * Intel's (compare testdata/dcap/phala-dcap-qvl/sample/tdx_quote) but never
 * Intel's values, so nothing simulated passes for real.
 */
import { createHash } from 'node:crypto';
import { TD_ATTRIBUTE_FLAGS } from '../sgx/constants.js';
import { simulatedQe } from './identity.js';

const sha384 = (s: string) => createHash('sha384').update(s).digest();

/**
 * The simulated TDX module. TEE_TCB_SVN as Intel's TDX 1.x module reports it:
 * byte 0 the module SVN, byte 1 its major version (1 → identity TDX_01 in TCB
 * Info), byte 2 the TDX late microcode SVN.
 */
export const SIM_TDX_MODULE = {
  teeTcbSvn: Buffer.from([5, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  mrSeam: sha384('kube-sgx simulated TDX module v1'),
  /** Intel's modules leave MRSIGNERSEAM and SEAM ATTRIBUTES zero */
  mrSignerSeam: Buffer.alloc(48),
  seamAttributes: 0n,
  /** TEE_TCB_INFO.VALID: TDX 1.0 fields (0x1FF); with TEE_TCB_SVN2 (TDX 1.5): 0x301FF */
  validV10: 0x1ffn,
  validV15: 0x301ffn,
} as const;

/** The simulated TD QE (Intel's TD QE has ISVPRODID 2; its identity is `TD_QE`). */
export const SIM_TD_QE = simulatedQe({ enclave: 'kube-sgx simulated TD quoting enclave v1', signer: 'kube-sgx simulated TD quoting enclave signer v1' }, 2, 4);

/** What a simulated TD is when the caller names nothing: a recognisable demo TD. */
export const SIM_DEFAULT_TD = {
  mrTd: sha384('kube-sgx simulated demo TD'),
  /** SEPT_VE_DISABLE, as production TDs (and the real sample quote) run */
  attributes: TD_ATTRIBUTE_FLAGS.SEPT_VE_DISABLE,
  /** x87 | SSE | AVX | AVX-512 (opmask, ZMM) | PKRU | CET U/S, as the real sample's 0x602e7 */
  xfam: 0x602e7n,
} as const;
