/**
 * Every name kube-sgx shares with Kubernetes and the node: extended
 * resources, node labels, pod annotations, webhook names and host paths.
 * Components import them from here, so a resource or path is spelt once.
 * Plain constants, no imports: any layer may use it.
 */

// ---- extended resources ----
/** Node-level EPC in bytes (Intel's device plugins, current AKS): patched into node status, and what pods request. */
export const EPC_RESOURCE = 'sgx.intel.com/epc';
/** Legacy AKS device-plugin EPC, in units of 1 MiB (one device per MiB). */
export const LEGACY_EPC_RESOURCE = 'kubernetes.azure.com/sgx_epc_mem_in_MiB';
/** Slots handing out the enclave device node. */
export const ENCLAVE_RESOURCE = 'sgx.intel.com/enclave';
/** Slots handing out the provision device node (in-process quoting). */
export const PROVISION_RESOURCE = 'sgx.intel.com/provision';
/** The prefix of Intel's SGX resource names. */
export const INTEL_SGX_RESOURCE_PREFIX = 'sgx.intel.com/';
/** Every `sgx.intel.com/*` name some plugin advertises; others are typos (the AKS FAQ's `sgx.intel.com/sgx_epc_mem_in_MiB`). */
export const KNOWN_INTEL_RESOURCES: readonly string[] = [EPC_RESOURCE, ENCLAVE_RESOURCE, PROVISION_RESOURCE, 'sgx.intel.com/qe', 'sgx.intel.com/registration'];
/** True for a resource name that means SGX: Intel's prefix or the legacy AKS EPC name. */
export function isSgxResourceName(name: string): boolean {
  return name === LEGACY_EPC_RESOURCE || name.startsWith(INTEL_SGX_RESOURCE_PREFIX);
}

// ---- node labels ----
/** Set by the node agent on SGX nodes; the webhook's default node affinity. */
export const LABEL_SGX_CAPABLE = 'sgx.intel.com/capable';
/** Intel's NFD rule label. */
export const LABEL_INTEL_NFD_SGX = 'intel.feature.node.kubernetes.io/sgx';
/** Node Feature Discovery's CPU feature label. */
export const LABEL_NFD_CPU_SGX_ENABLED = 'feature.node.kubernetes.io/cpu-security.sgx.enabled';
export const LABEL_EPC_MIB = 'kube-sgx.io/sgx-epc-mib';
export const LABEL_FLC = 'kube-sgx.io/sgx-flc';
/** Labels (with the value "true") any of which marks a node as SGX-capable. */
export const SGX_NODE_LABELS: ReadonlyArray<readonly [string, string]> = [
  [LABEL_SGX_CAPABLE, 'true'],
  [LABEL_INTEL_NFD_SGX, 'true'],
  [LABEL_NFD_CPU_SGX_ENABLED, 'true'],
];

// ---- pods and webhooks ----
/** Pod annotation choosing out-of-process ("aesmd") or in-process (a container name) quoting. */
export const QUOTE_PROVIDER_ANNOTATION = 'kube-sgx.io/quote-provider';
/** Intel's webhook annotation (intel-device-plugins-for-kubernetes pkg/webhooks/sgx), same values. */
export const INTEL_QUOTE_PROVIDER_ANNOTATION = 'sgx.intel.com/quote-provider';
/** The container name Intel's webhook treats as aesmd itself (its sidecar and DaemonSet layouts). */
export const AESMD_CONTAINER_NAME = 'aesmd';
/** Pods with this label set to "disabled" are not mutated (they are still validated). */
export const WEBHOOK_OPT_OUT_LABEL = 'kube-sgx.io/webhook';
export const MUTATING_WEBHOOK_NAME = 'mutate.pods.kube-sgx.io';
export const VALIDATING_WEBHOOK_NAME = 'validate.pods.kube-sgx.io';

// ---- host paths and the aesmd socket ----
/** SGX device nodes: in-tree driver names first, then the DCAP driver's; `/dev/isgx` is the SGX1 out-of-tree driver. */
export const SGX_DEVICE_PATHS = {
  enclave: ['/dev/sgx_enclave', '/dev/sgx/enclave'],
  provision: ['/dev/sgx_provision', '/dev/sgx/provision'],
  legacy: '/dev/isgx',
} as const;
/** Where aesmd (and kube-sgx's quote helper) keeps its socket, on the host and in containers. */
export const AESMD_SOCKET_DIR = '/var/run/aesmd';
export const AESMD_SOCKET_PATH = `${AESMD_SOCKET_DIR}/aesm.socket`;
/** The pod volume the webhook adds for that directory. */
export const AESMD_VOLUME_NAME = 'aesmd-socket';
/** Intel's quote provider library (QCNL) configuration: where it finds the PCCS. */
export const QCNL_CONFIG_PATH = '/etc/sgx_default_qcnl.conf';
/** Set to 1, Intel's quote library talks to aesmd over the socket instead of loading the QE in-process. */
export const AESM_ADDR_ENV = 'SGX_AESM_ADDR';
/** Where Intel's QGS (qgsd, `port = 0` in qgs.conf) and `kube-sgx qgs` keep the TDX quote socket, on the host and in containers. */
export const QGS_SOCKET_DIR = '/var/run/tdx-qgs';
export const QGS_SOCKET_PATH = `${QGS_SOCKET_DIR}/qgs.socket`;

// ---- TDX ----
/**
 * A TDX guest's attestation device, served by the node agent to pods on TD
 * nodes. The name Intel's CCNP device plugin (cc-api/confidential-cloud-native-primitives)
 * advertises, so pod specs written for it work unchanged.
 */
export const TDX_GUEST_RESOURCE = 'tdx.intel.com/tdx-guest';
/** The upstream tdx_guest driver's device (Linux ≥ 6.2), then the older out-of-tree name. */
export const TDX_GUEST_DEVICE_PATHS = ['/dev/tdx_guest', '/dev/tdx-guest'] as const;
/** configfs-tsm reports: each entry's `provider` names the attestation driver (`tdx_guest` in a TD). */
export const TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';
/** Intel's NFD rule label on TDX hosts (KVM with TDX enabled), value "true". */
export const LABEL_INTEL_NFD_TDX = 'intel.feature.node.kubernetes.io/tdx';
/** The label CCNP's NFD rule sets on TDX guests, value "enabled". */
export const LABEL_INTEL_NFD_TDX_GUEST = 'intel.feature.node.kubernetes.io/tdx-guest';
/** kube-sgx's own TDX role label: "host" (can run TDs) or "guest" (is a TD). */
export const LABEL_TDX = 'kube-sgx.io/tdx';
