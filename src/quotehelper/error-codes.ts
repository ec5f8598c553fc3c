/**
 * Every error code the quotehelper layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
import type { AesmError } from './aesm-errors.js';

export const QUOTE_HELPER_ERROR_CODES = [
  'AESM_CLIENT_BAD_QE_REPORT_INFO', 'AESM_CLIENT_BAD_REPLY', 'AESM_CLIENT_BAD_REPORT', 'AESM_CLIENT_CLOSED',
  'AESM_CLIENT_IO', 'AESM_CLIENT_TIMEOUT', 'AESM_CLIENT_UNAVAILABLE', 'AESM_MALFORMED_MESSAGE',
  'DCAP_BAD_REPORT', 'DCAP_LIBRARY_INCOMPATIBLE', 'DCAP_LIBRARY_UNAVAILABLE', 'DCAP_NO_SGX_DEVICE',
  'DCAP_QE_REPORT_UNSUPPORTED', 'DCAP_QUOTE_LIBRARY_ERROR', 'QUOTE_BACKEND_BAD_TARGET_INFO',
  'QUOTE_BACKEND_FAILED', 'QUOTE_HELPER_BAD_KEY_ID', 'QUOTE_HELPER_LISTEN', 'QUOTE_HELPER_NO_PLATFORM',
  'QUOTE_HELPER_OPS_LISTEN', 'QUOTE_HELPER_OPTIONS_INVALID', 'QUOTE_HELPER_SCHEMA_MISSING',
  'QUOTE_HELPER_SOCKET_DIR', 'QUOTE_HELPER_SOCKET_EXISTS', 'QUOTE_HELPER_SOCKET_IN_USE',
  'QUOTE_INVALID_REPORT',
] as const;

/** A reply's errorCode that aesm_error.h does not name; the number travels in `details.aesmError` and the message. */
export const AESM_UNKNOWN_ERROR = 'AESM_UNKNOWN_ERROR';

/**
 * An aesm_error_t a reply carried, by name (aesm-errors.ts `aesmErrorName`):
 * exactly the names of the `AesmError` table (Intel's aesm_error.h) with their
 * AESM_ prefix, or AESM_UNKNOWN_ERROR.
 */
export type AesmReplyErrorCode = `AESM_${keyof typeof AesmError}` | typeof AESM_UNKNOWN_ERROR;

export type QuoteHelperErrorCode = (typeof QUOTE_HELPER_ERROR_CODES)[number] | AesmReplyErrorCode;
