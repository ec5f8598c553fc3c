/**
 * Every error code the qgs layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const QGS_ERROR_CODES = [
  'QGS_BAD_ARGUMENT', 'QGS_BAD_FMSPC', 'QGS_BAD_REPORT_SIZE', 'QGS_BAD_RESPONSE',
  'QGS_DCAP_COLLATERAL_ERROR', 'QGS_DCAP_LIBRARY_ERROR', 'QGS_DCAP_LIBRARY_INCOMPATIBLE',
  'QGS_DCAP_LIBRARY_UNAVAILABLE', 'QGS_DCAP_NO_QPL', 'QGS_DCAP_NO_SGX_DEVICE', 'QGS_ERROR', 'QGS_LISTEN',
  'QGS_OPS_LISTEN', 'QGS_OPTIONS_INVALID', 'QGS_REFUSED', 'QGS_SOCKET_DIR', 'QGS_TIMEOUT', 'QGS_UNAVAILABLE',
  'QGS_UNKNOWN_FMSPC', 'QGS_UNKNOWN_PCK_CA', 'QGS_VSOCK_UNAVAILABLE',
] as const;

export type QgsErrorCode = (typeof QGS_ERROR_CODES)[number];
