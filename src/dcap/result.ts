/**
 * What a verification returns: data, not a boolean. Policy (the attestation
 * service, the CLI's caller) decides which statuses are acceptable.
 */
import type { TcbStatus } from './tcb-info.js';

export interface EnclaveIdentityResult {
  mrEnclave: string;
  mrSigner: string;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  miscSelect: string;
  /** 16 bytes as in the report: flags (u64 LE) ‖ xfrm (u64 LE), hex */
  attributes: string;
  debug: boolean;
  isvExtProdId: string;
  isvFamilyId: string;
  configId: string;
  cpuSvn: string;
  reportData: string;
}

export interface TdIdentityResult {
  teeTcbSvn: string;
  mrSeam: string;
  mrSignerSeam: string;
  seamAttributes: string;
  tdAttributes: string;
  debug: boolean;
  xfam: string;
  mrTd: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  rtMr: string[];
  reportData: string;
  /** TD report 1.5 only */
  teeTcbSvn2?: string;
  mrServiceTd?: string;
}

export interface TdxModuleResult {
  /** module identity id (TDX_01, …) or undefined when the module version byte is 0 */
  id: string | undefined;
  /** status of the matched module identity level (undefined when only tdxModule applies) */
  status: TcbStatus | undefined;
  tcbDate: string | undefined;
  advisoryIds: string[];
}

export interface VerificationResult {
  /** converged status (Intel QVL rules); 'Revoked' is returned as data, never thrown */
  status: TcbStatus;
  /** de-duplicated union: platform level, QE level, TDX module level */
  advisoryIds: string[];
  /** earliest tcbDate of the matched levels (platform, QE, module) */
  tcbDate: string;
  /** the smaller of TCB Info's and QE Identity's tcbEvaluationDataNumber */
  tcbEvaluationDataNumber: number;
  /** earliest nextUpdate / notAfter over the collateral and the PCK chain (ISO-8601) */
  collateralExpiresAt: string;
  /** the verification time used (ISO-8601, whole seconds) */
  verifiedAt: string;
  teeType: 'SGX' | 'TDX';
  quoteVersion: number;
  /** 12 uppercase hex characters */
  fmspc: string;
  pceId: string;
  /** which PCK CA issued the PCK certificate */
  pckCa: 'processor' | 'platform';
  platform: { status: TcbStatus; tcbDate: string; advisoryIds: string[]; pcesvn: number; sgxComponents: number[] };
  /** status of the QE's matched identity level */
  qeStatus: TcbStatus;
  qe: { isvSvn: number; tcbDate: string; advisoryIds: string[] };
  tdxModule?: TdxModuleResult;
  /**
   * TD report 1.5 only (Intel QVL 2026): the launch TCB (TEE_TCB_SVN) is out of date but the current one
   * (TEE_TCB_SVN2) is not — relaunching the TD would fix it. `status` stays the launch status.
   */
  tdRelaunchAdvised?: 'TD_RELAUNCH_ADVISED' | 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED';
  enclave?: EnclaveIdentityResult;
  td?: TdIdentityResult;
}
