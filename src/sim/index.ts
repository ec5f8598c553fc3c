/**
 * The simulated SGX platform: PCK hierarchy and collateral that the real
 * verifier accepts only when the simulated root is trusted, EREPORT, a QE3,
 * SIGSTRUCT, MRENCLAVE measurement and a PCCS. See docs/simulator.md.
 */
export { SimPlatform, type SimPlatformOpenOptions, type EreportOptions } from './platform.js';
export { TCB_SCENARIOS, SCENARIO_STATUS, SIM_FMSPC, SIM_QE, SIM_PCK_TCB, type TcbScenario } from './identity.js';
export { SIM_ADVISORIES } from './tcb-json.js';
export { startSimPccs, parseSimPccsOptions, simPccsOptionsSchema, SIM_PCCS_DEFAULTS, type SimPccsOptions, type SimPccsSettings, type SimPccs } from './pccs.js';
export { aesCmac, Cmac } from './cmac.js';
export {
  parseSigstruct,
  verifySigstruct,
  buildSigstruct,
  mrSignerOfKey,
  SIGSTRUCT_SIZE,
  type Sigstruct,
  type BuildSigstructOptions,
} from './sigstruct.js';
export { EnclaveMeasurement, measureEnclave, measureLayoutFile, parseEnclaveLayout, type EnclaveLayout } from './measure.js';
export { SIM_TDX_MODULE, SIM_TD_QE, SIM_DEFAULT_TD } from './td-identity.js';
export { type TdReportOptions } from './td.js';
export { simulateTdQuote, type SimulateTdQuoteOptions, type SimulatedTdQuote } from './tdx.js';
