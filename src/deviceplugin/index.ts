/**
 * The kubelet device-plugin framework: the v1beta1 API, the per-plugin gRPC
 * server and the manager that registers plugins and survives kubelet
 * restarts. Generic: the SGX plugins and the node agent are in src/nodeagent/.
 */
export {
  deviceApi,
  encodeListAndWatchResponse,
  listAndWatchEncodedLength,
  DEVICE_PLUGIN_API_VERSION,
  KUBELET_MAX_RECV_BYTES,
  HEALTHY,
  UNHEALTHY,
} from './api.js';
export type {
  InventoryDevice,
  DeviceMsg,
  ListAndWatchResponseMsg,
  AllocateRequestMsg,
  AllocateResponseMsg,
  ContainerAllocateResponseMsg,
  DeviceSpecMsg,
  MountMsg,
  PreferredAllocationRequestMsg,
  PreferredAllocationResponseMsg,
  RegisterRequestMsg,
  DevicePluginOptionsMsg,
} from './api.js';
export type { DevicePlugin } from './plugin.js';
export { firstAvailable } from './plugin.js';
export { DevicePluginServer } from './server.js';
export type { DevicePluginServerHooks } from './server.js';
export { DevicePluginManager, DEFAULT_KUBELET_DIR, KUBELET_SOCKET } from './manager.js';
export type { DevicePluginManagerOptions, DevicePluginManagerHooks, PluginRegistrationStatus, RegistrationState } from './manager.js';
export type { DevicePluginServerFactory, PluginServer } from './manager.js';
