/**
 * Quote helper: an aesmd-compatible quote-ex server on a unix socket, with a
 * real DCAP backend (libsgx_dcap_ql via koffi) and a simulated one, plus a
 * client for the same protocol.
 */
export { AesmClient, quoteLength as aesmQuoteLength } from './client.js';
export type { AesmClientOptions, InitQuoteExResult, GetQuoteExOptions, GetQuoteExResult } from './client.js';
export { AesmServer } from './server.js';
export type { AesmServerOptions } from './server.js';
export { startQuoteHelper } from './helper.js';
export type { QuoteHelper, QuoteHelperOptions } from './helper.js';
export { quoteHelperOptionsSchema, parseQuoteHelperOptions, QUOTE_HELPER_DEFAULTS, type QuoteHelperSettings, type QuoteHelperSettingsInput } from './options.js';
export type { QuoteBackend, QeReportRequest, BackendQuote } from './backend.js';
export { SimBackend } from './sim-backend.js';
export type { SimQuotingPlatform, SimBackendOptions } from './sim-backend.js';
export { DcapBackend, DEFAULT_DCAP_LIBRARY } from './dcap-backend.js';
export type { DcapBackendOptions } from './dcap-backend.js';
export { AesmError, aesmErrorName, quote3ErrorName, quote3ToAesm } from './aesm-errors.js';
export { INTEL_ECDSA_ATT_KEY_ID, ATT_KEY_ID_SIZE, encodeAttKeyIdList, decodeAttKeyIdList } from './keyid.js';
export { encodeRequest as encodeAesmRequest, decodeRequest as decodeAesmRequest, encodeResponse as encodeAesmResponse, decodeResponse as decodeAesmResponse } from './schema.js';
export type { AesmRequest, AesmResponse } from './schema.js';
export { frame as aesmFrame } from './framing.js';
export { createQuoteHelperMetrics } from './metrics.js';
export type { QuoteHelperMetrics } from './metrics.js';
