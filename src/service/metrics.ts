/** Prometheus metrics on the service's own registry (never the global one). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'kube_sgx_attestation_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'] as const, registers: [this.registry] });
  readonly attestations = new Counter({ name: 'kube_sgx_attestations_total', help: 'Attestations by outcome (issued or the problem code)', labelNames: ['outcome', 'tcb_status'] as const, registers: [this.registry] });
  readonly attestSeconds = new Histogram({ name: 'kube_sgx_attestation_duration_seconds', help: 'Time to verify a quote and issue a token', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  readonly releases = new Counter({ name: 'kube_sgx_secret_releases_total', help: 'Secret release decisions', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'kube_sgx_attestation_rate_limited_total', help: 'Requests refused by the per-client rate limit', registers: [this.registry] });
  readonly inFlight = new Gauge({ name: 'kube_sgx_attestation_in_flight_requests', help: 'Requests being served', registers: [this.registry] });
  readonly simulation = new Gauge({ name: 'kube_sgx_attestation_simulation_mode', help: '1 when the service trusts the simulator root', registers: [this.registry] });

  constructor(defaultMetrics = false) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kube_sgx_attestation_' });
  }
}
