/**
 * Every error code the ops layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const OPS_ERROR_CODES = [
  'CONFIG_INVALID', 'KUBECONFIG_INVALID', 'KUBECONFIG_MISSING', 'LISTEN_ADDRESS_INVALID', 'LISTEN_FAILED',
  'WEBHOOK_TLS_INVALID',
] as const;

export type OpsErrorCode = (typeof OPS_ERROR_CODES)[number];
