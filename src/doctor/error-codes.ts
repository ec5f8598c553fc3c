/**
 * Every error code the doctor layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const DOCTOR_ERROR_CODES = [
  'DOCTOR_API_UNREACHABLE', 'DOCTOR_NODE_GROUPS_INVALID',
] as const;

export type DoctorErrorCode = (typeof DOCTOR_ERROR_CODES)[number];
