/**
 * Intel's Quote Generation Service for trust domains on a node: the QGS
 * protocol (protocol.ts), the server (unix socket, vsock), the sim and dcap
 * backends, and a client. See docs/qgs.md.
 */
export * from './protocol.js';
export { QgsServer, QgsConnectionHandler, type QgsServerOptions, type QgsUnixServerOptions } from './server.js';
export { QgsClient, type QgsClientOptions } from './client.js';
export { SimQgsBackend } from './sim-backend.js';
export { qgsErrorOf, qgsBackendError, type QgsBackend } from './backend.js';
export { createQgsMetrics, type QgsMetrics } from './metrics.js';
