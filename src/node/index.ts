export { discoverSgx, sgxUsable } from './discovery.js';
export type { SgxInventory, EpcNumaNode, DiscoverSgxOptions } from './discovery.js';
export {
  NodeStatusUpdater,
  nodeFactsFor,
  epcCapacityPatch,
} from './node-status.js';
export type { NodeFacts, NodeStatusUpdaterOptions } from './node-status.js';
