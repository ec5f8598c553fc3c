/** Moved to src/ops/kubeconfig.ts (components load the kubeconfig too); kept for the CLI modules. */
export { loadKubeConfig } from '../ops/kubeconfig.js';
