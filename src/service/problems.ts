/**
 * The service's error vocabulary. Every failure is a KubeSgxError whose
 * `code` maps here to an HTTP status and a stable RFC 7807 `type` URI; the
 * app renders it in one place (http.ts `renderError`). The table must give a
 * status to every code of the service's union (src/service/error-codes.ts):
 * a service code without one does not compile. Codes of the other layers
 * (the verifier's for a malformed or tampered quote, the SGX parsers', the
 * simulator's) describe the caller's evidence: 400, with the type derived
 * from the code.
 */
import type { ErrorCode, KubeSgxError } from '../errors.js';
import type { ServiceErrorCode } from './error-codes.js';

export const PROBLEM_TYPE_BASE = 'https://kube-sgx.dev/problems/';

const STATUS = {
  INVALID_REQUEST: 400,
  INVALID_JSON: 400,
  JSON_TOO_DEEP: 400,
  JSON_TOO_LARGE: 400,
  INVALID_BASE64: 400,
  UNSUPPORTED_API_VERSION: 400,
  UNSUPPORTED_QUOTE_TYPE: 400,
  INVALID_QUOTE: 400,
  QUOTE_REJECTED: 400,
  SIMULATED_QUOTE_REFUSED: 400,
  COLLATERAL_EXPIRED: 400,
  RUNTIME_DATA_MISMATCH: 400,
  INIT_DATA_MISMATCH: 400,
  ATTESTATION_DENIED: 400,
  POLICY_SYNTAX: 400,
  POLICY_UNSUPPORTED: 400,
  POLICY_INVALID_JWS: 400,
  POLICY_TOO_LARGE: 400,
  POLICY_TOO_COMPLEX: 400,
  POLICY_EVALUATION_LIMIT: 400,
  POLICY_EVALUATION_ERROR: 400,
  POLICY_UNKNOWN_PROPERTY: 400,
  POLICY_UNKNOWN_FUNCTION: 400,
  POLICY_JMESPATH_SYNTAX: 400,
  POLICY_JMESPATH_UNSUPPORTED: 400,
  RELEASE_POLICY_INVALID: 400,
  UNAUTHORIZED: 401,
  TOKEN_INVALID: 401,
  FORBIDDEN: 403,
  POLICY_SIGNER_UNTRUSTED: 403,
  SECRET_RELEASE_DENIED: 403,
  NOT_FOUND: 404,
  SECRET_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REPORT_DATA_MISMATCH: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  // nginx's convention: the client closed the connection before the request was read (never seen by it).
  CLIENT_CLOSED_REQUEST: 499,
  COLLATERAL_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  STORE_UNAVAILABLE: 503,
  // KBS protocol input (the KBS renderer in kbs.ts maps some of these to its own statuses).
  KBS_ADDITIONAL_EVIDENCE_UNSUPPORTED: 400,
  KBS_COOKIE_MISSING: 400,
  KBS_JWE_INVALID: 400,
  KBS_NONCE_MISMATCH: 400,
  KBS_PROTOCOL_VERSION_MISMATCH: 400,
  KBS_REQUEST_INVALID: 400,
  KBS_RESOURCE_PATH_INVALID: 400,
  KBS_SESSION_EXPIRED: 400,
  KBS_SESSION_NOT_ATTESTED: 400,
  KBS_SESSION_UNKNOWN: 400,
  KBS_TEE_KEY_UNSUPPORTED: 400,
  KBS_TEE_UNSUPPORTED: 400,
  INIT_DATA_INVALID: 400,
  TOKEN_NOT_FOUND: 400,
  COLLATERAL_NOT_FOUND: 400,
  // Start-up and client-side codes: never the answer to a request.
  CONFIG_INVALID: 500,
  KEK_INVALID: 500,
  SERVICE_ERROR: 500,
  // The service's own state cannot be read: its fault, not the caller's (these were 400 while unlisted).
  SEALED_VALUE_INVALID: 500,
  STORE_CORRUPT: 500,
  INTERNAL: 500,
} as const satisfies Record<ServiceErrorCode | 'INTERNAL', number>;

/** Bad evidence or input found by a layer below the service. */
const EVIDENCE_STATUS = 400;

function isStatusCode(code: ErrorCode): code is keyof typeof STATUS {
  return Object.hasOwn(STATUS, code);
}

/** The service's own codes by the table; every other layer's code is evidence the caller sent (400). */
export function statusForCode(code: ErrorCode): number {
  return isStatusCode(code) ? STATUS[code] : EVIDENCE_STATUS;
}

export function problemTypeForCode(code: string): string {
  return PROBLEM_TYPE_BASE + code.toLowerCase().replace(/_/g, '-');
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  path?: ReadonlyArray<string | number>;
  offset?: number;
  details?: Record<string, unknown>;
  /** MAA's CloudError shape, so MAA clients read `code`/`message` too. */
  error: { code: string; message: string };
}

export function toProblem(err: KubeSgxError): ProblemDocument {
  const status = statusForCode(err.code);
  // 5xx details may carry internals: give the caller only a generic message.
  const detail = status >= 500 && err.code === 'INTERNAL' ? 'internal error' : err.message;
  const doc: ProblemDocument = {
    type: problemTypeForCode(err.code),
    title: err.code.toLowerCase().replace(/_/g, ' '),
    status,
    detail,
    code: err.code,
    error: { code: err.code, message: detail },
  };
  if (err.path.length > 0) doc.path = err.path;
  if (err.offset !== undefined) doc.offset = err.offset;
  if (err.details !== undefined && status < 500) doc.details = err.details;
  return doc;
}
