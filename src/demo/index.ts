/**
 * The end-to-end demo (`kube-sgx demo`, `npm start`): a simulated SGX node,
 * the node agent with a kubelet stand-in, the quote helper, an enclave app,
 * the attestation service and secret release, on one machine. See
 * docs/architecture.md.
 */
export { runDemo, type DemoOptions, type DemoReport } from './demo.js';
export { runSteps, Cleanups, type DemoStep, type StepResult, type StepStatus, type StepOutcome } from './runner.js';
export { createSimulatedHost, SIM_HOST_DEVICES, type SimulatedHostSpec } from './host.js';
export { buildDemoEnclave, DemoEnclaveApp, reportDataFor, quotingPlatform, type DemoEnclaveIdentity } from './enclave.js';
export { applyJsonPatch as applyDemoJsonPatch, type PatchOp as DemoPatchOp } from './jsonpatch.js';
