/**
 * kube-sgx library API. Each component's public surface is re-exported here;
 * see README.md for what each one does.
 */
export * from './errors.js';
export * from './names.js';
export * from './sgx/index.js';
export * from './dcap/index.js';
export * from './sim/index.js';
export * from './node/index.js';
export * from './deviceplugin/index.js';
export * from './nodeagent/index.js';
export * from './quotehelper/index.js';
export * from './webhook/index.js';
export * from './doctor/index.js';
export * from './service/index.js';
