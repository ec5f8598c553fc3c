/**
 * kube-sgx library root: the light, dependency-free parts only — the error
 * type, the Kubernetes-facing names, SGX structures (`sgx`) and the DCAP
 * quote verifier (`dcap`). Importing it loads no Kubernetes client, HTTP
 * server or native library. Every other component has its own entry point,
 * loaded only when imported:
 *
 *   kube-sgx/sim  kube-sgx/service  kube-sgx/webhook  kube-sgx/doctor
 *   kube-sgx/quotehelper  kube-sgx/qgs  kube-sgx/node  kube-sgx/nodeagent
 *   kube-sgx/deviceplugin  kube-sgx/demo
 *
 * test/package/exports.test.ts holds the root and `kube-sgx/dcap` to their heap budgets.
 */
export * from './errors.js';
export * from './names.js';
export * from './encoding.js';
export * from './sgx/index.js';
export * from './dcap/index.js';
