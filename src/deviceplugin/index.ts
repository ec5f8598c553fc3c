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
export { planEpcLayout, epcUnitId, parseEpcUnitId, epcDevices, numaOfUnit, DEFAULT_MAX_MESSAGE_BYTES } from './epc-layout.js';
export type { EpcLayout, EpcNodeUnits } from './epc-layout.js';
export {
  EpcMibPlugin,
  SgxSlotPlugin,
  deviceSpecsFor,
  RESOURCE_EPC_MIB,
  RESOURCE_ENCLAVE,
  RESOURCE_PROVISION,
  RESOURCE_EPC_BYTES,
  DEFAULT_SLOTS,
} from './sgx-plugins.js';
export { KubeletStandIn, isExtendedResourceName } from './kubelet-stand-in.js';
export type { KubeletStandInOptions, StandInRegistration, StandInResource } from './kubelet-stand-in.js';
export { NodeAgentMetrics } from './metrics.js';
export { startNodeAgent, parseSgxResourceList, ALL_SGX_RESOURCES } from './agent.js';
export type { NodeAgent, NodeAgentOptions, NodeAgentStatus, SgxResourceName } from './agent.js';
