/** Prometheus metrics of one quote helper, on its own Registry. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface QuoteHelperMetrics {
  registry: Registry;
  requests: Counter<'request' | 'result'>;
  quotes: Counter;
  errors: Counter<'code'>;
  rejectedConnections: Counter<'reason'>;
  openConnections: Gauge;
  latency: Histogram<'request'>;
  info: Gauge<'backend' | 'simulated'>;
}

export function createQuoteHelperMetrics(registry = new Registry()): QuoteHelperMetrics {
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: 'kube_sgx_quote_helper_requests_total', help: 'aesm requests answered, by request type and result (ok or the AESM error name)', labelNames: ['request', 'result'], registers }),
    quotes: new Counter({ name: 'kube_sgx_quote_helper_quotes_total', help: 'quotes served', registers }),
    errors: new Counter({ name: 'kube_sgx_quote_helper_errors_total', help: 'requests answered with a non-zero errorCode, by AESM error name', labelNames: ['code'], registers }),
    rejectedConnections: new Counter({ name: 'kube_sgx_quote_helper_rejected_connections_total', help: 'connections closed without a reply, by reason', labelNames: ['reason'], registers }),
    openConnections: new Gauge({ name: 'kube_sgx_quote_helper_open_connections', help: 'client connections currently open', registers }),
    latency: new Histogram({
      name: 'kube_sgx_quote_helper_request_duration_seconds',
      help: 'time from a complete request frame to the reply being written',
      labelNames: ['request'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers,
    }),
    info: new Gauge({ name: 'kube_sgx_quote_helper_info', help: 'which backend serves quotes (1)', labelNames: ['backend', 'simulated'], registers }),
  };
}
