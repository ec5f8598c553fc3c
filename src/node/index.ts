export { discoverSgx, sgxUsable, SGX_DEVICE_PATHS, AESMD_SOCKET_PATH, AESMD_SOCKET_DIR } from './discovery.js';
export type { SgxInventory, EpcNumaNode, DiscoverSgxOptions } from './discovery.js';
export {
  NodeStatusUpdater,
  nodeFactsFor,
  epcCapacityPatch,
  EPC_CAPACITY_RESOURCE,
  LABEL_SGX_CAPABLE,
  LABEL_INTEL_NFD_SGX,
  LABEL_EPC_MIB,
  LABEL_FLC,
} from './node-status.js';
export type { NodeFacts, NodeStatusUpdaterOptions } from './node-status.js';
