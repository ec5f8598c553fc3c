/**
 * Every error code the node layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const NODE_ERROR_CODES = [
  'CPUID_READ_FAILED', 'CPUID_UNREADABLE', 'EPC_FILE_INVALID', 'EPC_FILE_UNREADABLE', 'EPC_FILE_UNWRITABLE', 'INVALID_EPC_BYTES', 'KUBECONFIG_INVALID',
  'NODE_NAME_REQUIRED',
] as const;

export type NodeErrorCode = (typeof NODE_ERROR_CODES)[number];
