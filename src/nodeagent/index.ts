/**
 * The kube-sgx node agent: the SGX device plugins (EPC MiB units, enclave and
 * provision slots), the EPC layout, the agent's metrics and `startNodeAgent`,
 * the composition root `kube-sgx node-agent` runs. See docs/node-agent.md.
 */
export { planEpcLayout, epcUnitId, parseEpcUnitId, epcDevices, numaOfUnit, DEFAULT_MAX_MESSAGE_BYTES } from './epc-layout.js';
export type { EpcLayout, EpcNodeUnits } from './epc-layout.js';
export {
  EpcMibPlugin,
  SgxSlotPlugin,
  deviceSpecsFor,
  DEFAULT_SLOTS,
} from './sgx-plugins.js';
export { NodeAgentMetrics } from './metrics.js';
export { startNodeAgent, parseSgxResourceList, ALL_SGX_RESOURCES } from './agent.js';
export type { NodeAgent, NodeAgentOptions, NodeAgentStatus, SgxResourceName } from './agent.js';
