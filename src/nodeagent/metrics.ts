/** The node agent's Prometheus metrics, on their own Registry. */
import { Counter, Gauge, Registry } from 'prom-client';

export class NodeAgentMetrics {
  readonly registry = new Registry();
  readonly sgxAvailable = new Gauge({ name: 'kube_sgx_node_sgx_available', help: '1 when an SGX enclave device node is present', registers: [this.registry] });
  readonly sgxUnavailableReason = new Gauge({
    name: 'kube_sgx_node_sgx_unavailable_reason',
    help: '1 for each reason SGX (or part of it) is unusable on this node',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly epcBytes = new Gauge({ name: 'kube_sgx_node_epc_bytes', help: 'EPC bytes per NUMA node', labelNames: ['numa_node'], registers: [this.registry] });
  readonly advertisedDevices = new Gauge({
    name: 'kube_sgx_node_advertised_devices',
    help: 'Devices in the last ListAndWatch inventory, by resource and health',
    labelNames: ['resource', 'health'],
    registers: [this.registry],
  });
  readonly epcUnitsCapped = new Gauge({
    name: 'kube_sgx_node_epc_mib_units_not_advertised',
    help: 'MiB units left out of the MiB resource to keep ListAndWatch under 4 MiB',
    registers: [this.registry],
  });
  readonly messageBytes = new Gauge({
    name: 'kube_sgx_node_listandwatch_message_bytes',
    help: 'Encoded size of the current ListAndWatch message',
    labelNames: ['resource'],
    registers: [this.registry],
  });
  readonly allocatedUnits = new Counter({
    name: 'kube_sgx_node_allocated_units_total',
    help: 'Units handed out by successful Allocate calls (the kubelet never reports frees)',
    labelNames: ['resource'],
    registers: [this.registry],
  });
  readonly allocateErrors = new Counter({ name: 'kube_sgx_node_allocate_errors_total', help: 'Allocate calls rejected', labelNames: ['resource'], registers: [this.registry] });
  readonly registered = new Gauge({
    name: 'kube_sgx_node_plugin_registered',
    help: '1 when the plugin is registered with the current kubelet',
    labelNames: ['resource'],
    registers: [this.registry],
  });
  readonly registrations = new Counter({ name: 'kube_sgx_node_registrations_total', help: 'Successful registrations with the kubelet', labelNames: ['resource'], registers: [this.registry] });
  readonly kubeletRestarts = new Counter({ name: 'kube_sgx_node_kubelet_restarts_total', help: 'kubelet restarts seen (kubelet.sock re-created)', registers: [this.registry] });
  readonly nodePatches = new Counter({ name: 'kube_sgx_node_api_patches_total', help: 'Patches sent to the Node (labels, EPC capacity)', registers: [this.registry] });
}
