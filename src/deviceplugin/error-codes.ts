/**
 * Every error code the deviceplugin layer throws. KubeSgxError takes only codes listed
 * in some layer's union (src/errors.ts), so a new code is added here and a
 * misspelt one does not compile.
 */
export const DEVICE_PLUGIN_ERROR_CODES = [
  'DUPLICATE_PLUGIN', 'INTERNAL', 'INVALID_REQUEST', 'PROTO_NOT_FOUND',
] as const;

export type DevicePluginErrorCode = (typeof DEVICE_PLUGIN_ERROR_CODES)[number];
