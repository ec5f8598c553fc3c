/**
 * The node agent's options: one schema, with every default and bound, used
 * by `kube-sgx node-agent` and startNodeAgent().
 */
import { z } from 'zod';
import { DEFAULT_KUBELET_DIR } from '../deviceplugin/manager.js';
import { KubeSgxError } from '../errors.js';
import { hostPortOption, intOption, parseOptions } from '../ops/options.js';
import { parseSgxResourceList, type SgxResourceName } from './agent.js';
import { DEFAULT_SLOTS } from './sgx-plugins.js';

export const NODE_AGENT_DEFAULTS = {
  hostRoot: '/',
  kubeletDir: DEFAULT_KUBELET_DIR,
  enclaveSlots: DEFAULT_SLOTS,
  provisionSlots: DEFAULT_SLOTS,
  nodeUpdate: true,
  discoveryIntervalMs: 5000,
} as const;

const D = NODE_AGENT_DEFAULTS;
const HOUR_MS = 3_600_000;

/** A resource list: the CLI's comma-separated text ("epc-mib,enclave") or names. */
const resourceList = z.union([z.string(), z.array(z.string())]).transform((v, ctx): SgxResourceName[] => {
  try {
    return parseSgxResourceList(Array.isArray(v) ? v.join(',') : v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof KubeSgxError ? e.message : String(e) });
    return z.NEVER;
  }
});

export const nodeAgentOptionsSchema = z
  .object({
    /** Where the host filesystem is mounted (proc/, sys/, dev/, var/run/aesmd/). */
    hostRoot: z.string().min(1).default(D.hostRoot),
    kubeletDir: z.string().min(1).default(D.kubeletDir),
    /** Default: the SGX resources, plus tdx-guest where /dev/tdx_guest exists at start. */
    resources: resourceList.optional(),
    enclaveSlots: intOption(z, 1, 100_000).default(D.enclaveSlots),
    provisionSlots: intOption(z, 1, 100_000).default(D.provisionSlots),
    /** EPC size for kernels without sgx_total_bytes in sysfs. */
    epcBytes: intOption(z, 0, Number.MAX_SAFE_INTEGER).optional(),
    /** EPC probe file written by the privileged init container (`node-agent probe-epc`). */
    epcFile: z.string().min(1).optional(),
    /** Patch EPC capacity and labels into the Node (needs nodeName). */
    nodeUpdate: z.boolean().default(D.nodeUpdate),
    nodeName: z.string().optional(),
    kubeconfig: z.string().min(1).optional(),
    /** HOST:PORT for /metrics /healthz /readyz /status; absent = no ops server. */
    metricsAddr: hostPortOption(z).optional(),
    discoveryIntervalMs: intOption(z, 100, HOUR_MS).default(D.discoveryIntervalMs),
    /** Default: NodeStatusUpdater's. */
    nodeStatusIntervalMs: intOption(z, 1, HOUR_MS).optional(),
    /** Socket poll period (fs.watch is the fast path); default: the device-plugin manager's. */
    pollMs: intOption(z, 1, HOUR_MS).optional(),
    /** Byte budget for one ListAndWatch message of the MiB resource; default: the plugin's. */
    maxMessageBytes: intOption(z, 1, 64 * 1024 * 1024).optional(),
  })
  .strict();

export type NodeAgentSettings = z.output<typeof nodeAgentOptionsSchema>;
export type NodeAgentSettingsInput = z.input<typeof nodeAgentOptionsSchema>;

/** The CLI flag of each option, for error messages. */
export const NODE_AGENT_FLAGS = {
  hostRoot: '--host-root',
  kubeletDir: '--kubelet-dir',
  resources: '--resources',
  enclaveSlots: '--enclave-slots',
  provisionSlots: '--provision-slots',
  epcBytes: '--epc-bytes',
  epcFile: '--epc-file',
  nodeName: '--node-name',
  kubeconfig: '--kubeconfig',
  metricsAddr: '--metrics-addr',
  discoveryIntervalMs: '--discovery-interval',
} as const;

/** Validates and defaults; NODE_AGENT_OPTIONS_INVALID names the flag (or field) at fault. */
export function parseNodeAgentOptions(input: unknown): NodeAgentSettings {
  return parseOptions(nodeAgentOptionsSchema, input ?? {}, 'NODE_AGENT_OPTIONS_INVALID', NODE_AGENT_FLAGS);
}
