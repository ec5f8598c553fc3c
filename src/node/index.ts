export { discoverSgx, sgxUsable } from './discovery.js';
export type { SgxInventory, EpcNumaNode, DiscoverSgxOptions } from './discovery.js';
export {
  NodeStatusUpdater,
  nodeFactsFor,
  epcCapacityPatch,
} from './node-status.js';
export type { NodeFacts, NodeStatusUpdaterOptions } from './node-status.js';
export { probeEpc, readEpcProbeFile, parseEpcProbe, writeEpcProbeFile, EPC_PROBE_FORMAT } from './epc-probe.js';
export type { EpcProbe } from './epc-probe.js';
