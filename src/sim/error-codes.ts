/**
 * Every error code the sim layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const SIM_ERROR_CODES = [
  'MEASURE_BAD_LAYOUT', 'MEASURE_FINISHED', 'SIGSTRUCT_BAD_FIELD', 'SIGSTRUCT_BAD_KEY', 'SIGSTRUCT_BAD_SIZE',
  'SIGSTRUCT_Q_INVALID', 'SIGSTRUCT_SIGNATURE_INVALID', 'SIM_BAD_ARGUMENT', 'SIM_BAD_KEY',
  'SIM_BAD_QE_REPORT_INFO', 'SIM_BAD_QUOTE_VERSION', 'SIM_BAD_TARGET_INFO', 'SIM_INVALID_REPORT',
  'SIM_INVALID_TD_REPORT', 'SIM_PCCS_LISTEN_FAILED', 'SIM_PLATFORM_CORRUPT', 'SIM_PLATFORM_INCOMPLETE',
  'SIM_PLATFORM_WRITE_FAILED', 'SIM_SCENARIO_MISMATCH', 'SIM_SEED_MISMATCH', 'TDREPORT_HASH_MISMATCH',
  'TDREPORT_TRUNCATED',
] as const;

export type SimErrorCode = (typeof SIM_ERROR_CODES)[number];
