/**
 * aesmd's error codes (`aesm_error_t`, intel/linux-sgx psw/ae/inc/internal/aesm_error.h)
 * and the mapping aesmd applies to the DCAP quoting library's `quote3_error_t`
 * (ecdsa_quote_service_bundle: quote3_error_to_aesm_error). Every reply carries
 * one of these in `errorCode`; Intel's client turns them into sgx_status_t.
 */
import { AESM_UNKNOWN_ERROR, type AesmReplyErrorCode } from './error-codes.js';
import { KubeSgxError, type ErrorCode } from '../errors.js';

/** Every aesm_error_t (aesm_error.h @90873a0; 27 is unassigned), by name without the AESM_ prefix. */
export const AesmError = {
  SUCCESS: 0,
  UNEXPECTED_ERROR: 1,
  NO_DEVICE_ERROR: 2,
  PARAMETER_ERROR: 3,
  EPIDBLOB_ERROR: 4,
  EPID_REVOKED_ERROR: 5,
  GET_LICENSETOKEN_ERROR: 6,
  SESSION_INVALID: 7,
  MAX_NUM_SESSION_REACHED: 8,
  PSDA_UNAVAILABLE: 9,
  EPH_SESSION_FAILED: 10,
  LONG_TERM_PAIRING_FAILED: 11,
  NETWORK_ERROR: 12,
  NETWORK_BUSY_ERROR: 13,
  PROXY_SETTING_ASSIST: 14,
  FILE_ACCESS_ERROR: 15,
  SGX_PROVISION_FAILED: 16,
  SERVICE_STOPPED: 17,
  BUSY: 18,
  BACKEND_SERVER_BUSY: 19,
  UPDATE_AVAILABLE: 20,
  OUT_OF_MEMORY_ERROR: 21,
  MSG_ERROR: 22,
  THREAD_ERROR: 23,
  SGX_DEVICE_NOT_AVAILABLE: 24,
  ENABLE_SGX_DEVICE_FAILED: 25,
  PLATFORM_INFO_BLOB_INVALID_SIG: 26,
  KDF_MISMATCH: 28,
  OUT_OF_EPC: 29,
  SERVICE_UNAVAILABLE: 30,
  UNRECOGNIZED_PLATFORM: 31,
  ECDSA_ID_MISMATCH: 32,
  PATHNAME_BUFFER_OVERFLOW_ERROR: 33,
  ERROR_STORED_KEY: 34,
  PUB_KEY_ID_MISMATCH: 35,
  INVALID_PCE_SIG_SCHEME: 36,
  ATT_KEY_BLOB_ERROR: 37,
  UNSUPPORTED_ATT_KEY_ID: 38,
  UNSUPPORTED_LOADING_POLICY: 39,
  INTERFACE_UNAVAILABLE: 40,
  PLATFORM_LIB_UNAVAILABLE: 41,
  ATT_KEY_NOT_INITIALIZED: 42,
  ATT_KEY_CERT_DATA_INVALID: 43,
  NO_PLATFORM_CERT_DATA: 44,
  ERROR_REPORT: 45,
  ENCLAVE_LOST: 46,
  INVALID_REPORT: 47,
  ENCLAVE_LOAD_ERROR: 48,
  UNABLE_TO_GENERATE_QE_REPORT: 49,
  KEY_CERTIFICATION_ERROR: 50,
  CONFIG_UNSUPPORTED: 51,
} as const;

const AESM_NAMES = new Map<number, AesmReplyErrorCode>(
  (Object.keys(AesmError) as (keyof typeof AesmError)[]).map((name) => [AesmError[name], `AESM_${name}`]),
);

/** "AESM_INVALID_REPORT" for 47; a number aesm_error.h does not name is AESM_UNKNOWN_ERROR. */
export function aesmErrorName(code: number): AesmReplyErrorCode {
  return AESM_NAMES.get(code) ?? AESM_UNKNOWN_ERROR;
}

/** quote3_error_t (SGXDataCenterAttestationPrimitives sgx_ql_lib_common.h): 0xE000 | n. */
export const QUOTE3_NAMES: Readonly<Record<number, string>> = {
  0x0000: 'SGX_QL_SUCCESS', 0xe001: 'SGX_QL_ERROR_UNEXPECTED', 0xe002: 'SGX_QL_ERROR_INVALID_PARAMETER',
  0xe003: 'SGX_QL_ERROR_OUT_OF_MEMORY', 0xe004: 'SGX_QL_ERROR_ECDSA_ID_MISMATCH',
  0xe005: 'SGX_QL_PATHNAME_BUFFER_OVERFLOW_ERROR', 0xe006: 'SGX_QL_FILE_ACCESS_ERROR', 0xe007: 'SGX_QL_ERROR_STORED_KEY',
  0xe008: 'SGX_QL_ERROR_PUB_KEY_ID_MISMATCH', 0xe009: 'SGX_QL_ERROR_INVALID_PCE_SIG_SCHEME',
  0xe00a: 'SGX_QL_ATT_KEY_BLOB_ERROR', 0xe00b: 'SGX_QL_UNSUPPORTED_ATT_KEY_ID', 0xe00c: 'SGX_QL_UNSUPPORTED_LOADING_POLICY',
  0xe00d: 'SGX_QL_INTERFACE_UNAVAILABLE', 0xe00e: 'SGX_QL_PLATFORM_LIB_UNAVAILABLE',
  0xe00f: 'SGX_QL_ATT_KEY_NOT_INITIALIZED', 0xe010: 'SGX_QL_ATT_KEY_CERT_DATA_INVALID',
  0xe011: 'SGX_QL_NO_PLATFORM_CERT_DATA', 0xe012: 'SGX_QL_OUT_OF_EPC', 0xe013: 'SGX_QL_ERROR_REPORT',
  0xe014: 'SGX_QL_ENCLAVE_LOST', 0xe015: 'SGX_QL_INVALID_REPORT', 0xe016: 'SGX_QL_ENCLAVE_LOAD_ERROR',
  0xe017: 'SGX_QL_UNABLE_TO_GENERATE_QE_REPORT', 0xe018: 'SGX_QL_KEY_CERTIFCATION_ERROR',
  0xe019: 'SGX_QL_NETWORK_ERROR', 0xe01a: 'SGX_QL_MESSAGE_ERROR', 0xe03e: 'SGX_QL_UNSUPPORTED_MODE',
  0xe03f: 'SGX_QL_NO_DEVICE', 0xe040: 'SGX_QL_SERVICE_UNAVAILABLE', 0xe041: 'SGX_QL_NETWORK_FAILURE',
  0xe042: 'SGX_QL_SERVICE_TIMEOUT', 0xe043: 'SGX_QL_ERROR_BUSY',
};

export function quote3ErrorName(code: number): string {
  return QUOTE3_NAMES[code] ?? `QUOTE3_ERROR_0x${code.toString(16).padStart(4, '0')}`;
}

/**
 * aesmd's quote3_error_to_aesm_error: each QE3 error 0xE001..0xE01A becomes its
 * AESM namesake; everything else is AESM_UNEXPECTED_ERROR.
 */
const QUOTE3_TO_AESM: Readonly<Record<number, number>> = {
  0x0000: 0, 0xe001: 1, 0xe002: 3, 0xe003: 21, 0xe004: 32, 0xe005: 33, 0xe006: 15, 0xe007: 34, 0xe008: 35,
  0xe009: 36, 0xe00a: 37, 0xe00b: 38, 0xe00c: 39, 0xe00d: 40, 0xe00e: 41, 0xe00f: 42, 0xe010: 43, 0xe011: 44,
  0xe012: 29, 0xe013: 45, 0xe014: 46, 0xe015: 47, 0xe016: 48, 0xe017: 49, 0xe018: 50, 0xe019: 12, 0xe01a: 22,
};

export function quote3ToAesm(code: number): number {
  return QUOTE3_TO_AESM[code] ?? AesmError.UNEXPECTED_ERROR;
}

/**
 * Backends throw KubeSgxError; the AESM code to answer with travels in
 * `details.aesmError`. Anything else is AESM_UNEXPECTED_ERROR.
 */
export function aesmErrorOf(e: unknown): number {
  if (e instanceof KubeSgxError) {
    const v = e.details?.aesmError;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return AesmError.UNEXPECTED_ERROR;
}

/** A backend error that tells the server which aesm_error_t to reply with. */
export function backendError(code: ErrorCode, message: string, aesmError: number, details: Record<string, unknown> = {}, cause?: unknown): KubeSgxError {
  return new KubeSgxError(code, message, { details: { ...details, aesmError }, cause });
}
