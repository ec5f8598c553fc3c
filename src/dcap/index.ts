/**
 * DCAP quote verification (Intel's check list and order), collateral JSON and
 * collateral providers. See docs/verifier.md.
 */
export { verifyQuote, QuoteVerifier, type VerifyOptions, type QuoteVerifierOptions } from './verify.js';
export type { VerificationResult, EnclaveIdentityResult, TdIdentityResult, TdxModuleResult } from './result.js';
export { parseCollateral, serializeCollateral, collateralFromParts, type Collateral, type CollateralParts } from './collateral.js';
export {
  PcsCollateralProvider,
  PccsCollateralProvider,
  ThimCollateralProvider,
  DirectoryCollateralProvider,
  CachingCollateralProvider,
  collateralProviderFor,
  INTEL_PCS_URL,
  INTEL_ROOT_CA_CRL_URL,
  type CollateralProvider,
  type CollateralRequest,
  type CollateralSource,
  type PcsOptions,
  type ThimOptions,
  AZURE_CRL_URIS,
  type CachingOptions,
} from './providers.js';
export { parseTcbInfo, parseEnclaveIdentity, TCB_STATUSES, type TcbStatus, type TcbInfo, type TcbLevel, type EnclaveIdentity } from './tcb-info.js';
export { convergeTcbStatus } from './tcb.js';
export { INTEL_SGX_ROOT_CA_SHA256 } from './trust.js';
export { MAX_QUOTE_BYTES } from './quote-parts.js';
