/**
 * Every error code the webhook layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const WEBHOOK_ERROR_CODES = [
  'QUANTITY_MALFORMED', 'QUANTITY_NEGATIVE', 'QUANTITY_NOT_INTEGER', 'QUANTITY_TOO_LARGE',
  'WEBHOOK_BAD_OBJECT', 'WEBHOOK_BAD_REVIEW', 'WEBHOOK_CA_BUNDLE_EMPTY', 'WEBHOOK_CA_INCOMPLETE',
  'WEBHOOK_CA_INVALID', 'WEBHOOK_CERT_BAD_NAME', 'WEBHOOK_CERT_INVALID', 'WEBHOOK_CERT_NO_NAMES',
  'WEBHOOK_CONFIG_INVALID', 'WEBHOOK_CONFIG_UNREADABLE', 'WEBHOOK_OPTIONS_INVALID', 'WEBHOOK_POD_INVALID',
] as const;

export type WebhookErrorCode = (typeof WEBHOOK_ERROR_CODES)[number];
