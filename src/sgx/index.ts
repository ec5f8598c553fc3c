/**
 * SGX / TDX DCAP structures: quotes (v3, v4, v5), report bodies, reports,
 * target info, TD reports, certification data and PCK certificate SGX
 * extensions. Pure functions, Buffer/Uint8Array in and out. See docs/sgx.md.
 */
export * from './constants.js';
export {
  parseQuote,
  encodeQuote,
  encodeQuoteSignedRegion,
  signatureDataSize,
  quoteReportData,
  makeQuoteHeader,
  type Quote,
  type QuoteHeader,
  type QuoteBody,
  type QuoteSignatureData,
  type ParseQuoteOptions,
  type EncodeQuoteOptions,
  type QuoteInit,
} from './quote.js';
export {
  parseReportBody,
  encodeReportBody,
  parseReport,
  encodeReport,
  parseTargetInfo,
  encodeTargetInfo,
  makeReportBody,
  makeTargetInfo,
  sgxAttributes,
  type ReportBody,
  type Report,
  type TargetInfo,
  type SgxAttributes,
} from './report.js';
export {
  parseTdReport10,
  parseTdReport15,
  encodeTdReport10,
  encodeTdReport15,
  tdAttributes,
  makeTdReport10,
  makeTdReport15,
  type TdReport10,
  type TdReport15,
  type TdAttributes,
} from './td-report.js';
export {
  parseCertificationData,
  encodeCertificationData,
  pckChainCertificationData,
  type CertificationData,
  type PpidCertificationData,
  type PckCertCertificationData,
  type PckChainCertificationData,
  type QeReportCertCertificationData,
  type QeReportCertificationData,
  type QeReportCertificationDataInit,
} from './cert-data.js';
export {
  parsePckExtensions,
  parsePckExtensionValue,
  findPckExtensionValue,
  encodePckExtensionValue,
  SGX_TYPE,
  SGX_TYPE_NAMES,
  type PckExtensions,
  type PckPlatformConfiguration,
} from './pck-extensions.js';
export { decodeQuoteFile, QUOTE_FILE_MAX_SIZE } from './bytes.js';
export { quoteToJson, pckExtensionsToJson, sgxToJson, type SgxJson } from './json.js';
