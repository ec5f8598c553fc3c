/**
 * Every error code the cli layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const CLI_ERROR_CODES = [
  'FILE_UNREADABLE', 'OUTPUT_WRITE_FAILED', 'QUOTE_HELPER_BAD_INPUT', 'QUOTE_TOO_LARGE', 'USAGE',
] as const;

export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];
