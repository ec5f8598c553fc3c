/** Prometheus metrics of one QGS, on its own Registry. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface QgsMetrics {
  registry: Registry;
  requests: Counter<'request' | 'result'>;
  quotes: Counter<'mode'>;
  rejectedConnections: Counter<'reason'>;
  openConnections: Gauge<'transport'>;
  latency: Histogram<'request'>;
  info: Gauge<'backend' | 'simulated'>;
}

export function createQgsMetrics(registry = new Registry()): QgsMetrics {
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: 'kube_sgx_qgs_requests_total', help: 'QGS requests answered, by request type and result (ok or the QGS error name)', labelNames: ['request', 'result'], registers }),
    quotes: new Counter({ name: 'kube_sgx_qgs_quotes_total', help: 'TD quotes served, by mode (framed or raw)', labelNames: ['mode'], registers }),
    rejectedConnections: new Counter({ name: 'kube_sgx_qgs_rejected_connections_total', help: 'connections closed without a quote or error reply, by reason', labelNames: ['reason'], registers }),
    openConnections: new Gauge({ name: 'kube_sgx_qgs_open_connections', help: 'client connections currently open, by transport', labelNames: ['transport'], registers }),
    latency: new Histogram({
      name: 'kube_sgx_qgs_request_duration_seconds',
      help: 'time from a complete request to the reply being written',
      labelNames: ['request'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30],
      registers,
    }),
    info: new Gauge({ name: 'kube_sgx_qgs_info', help: 'which backend serves quotes (1)', labelNames: ['backend', 'simulated'], registers }),
  };
}
