/**
 * Every error code the nodeagent layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const NODE_AGENT_ERROR_CODES = [
  'DEVICE_UNAVAILABLE', 'DUPLICATE_DEVICE', 'INVALID_EPC_LAYOUT', 'INVALID_REQUEST', 'INVALID_SLOTS',
  'METRICS_LISTEN_FAILED', 'NODE_AGENT_OPTIONS_INVALID', 'UNKNOWN_DEVICE', 'UNKNOWN_RESOURCE',
] as const;

export type NodeAgentErrorCode = (typeof NODE_AGENT_ERROR_CODES)[number];
