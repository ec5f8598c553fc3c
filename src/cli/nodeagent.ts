/** `kube-sgx node-agent`: SGX discovery, kubelet device plugins, Node EPC capacity and labels. */
import type { Command } from 'commander';
import { startNodeAgent } from '../nodeagent/agent.js';
import { NODE_AGENT_DEFAULTS as D, parseNodeAgentOptions } from '../nodeagent/options.js';
import { ENCLAVE_RESOURCE, EPC_RESOURCE, PROVISION_RESOURCE } from '../names.js';
import { createLogger } from '../ops/log.js';
import { probeEpc, writeEpcProbeFile } from '../node/epc-probe.js';
import { action, serveUntilSignal, usage } from './io.js';

interface NodeAgentFlags {
  hostRoot: string;
  kubeletDir: string;
  resources?: string;
  enclaveSlots: string;
  provisionSlots: string;
  epcBytes?: string;
  epcFile?: string;
  nodeUpdate: boolean;
  nodeName?: string;
  kubeconfig?: string;
  metricsAddr?: string;
  discoveryInterval: string;
}

export function registerNodeAgentCommand(parent: Command): void {
  const nodeAgent = parent
    .command('node-agent')
    .description(`discover SGX on this node, serve kubelet device plugins (EPC MiB units, enclave and provision slots), patch ${EPC_RESOURCE} and labels into the Node`)
    .option('--host-root <dir>', 'where the host filesystem is mounted (proc/, sys/, dev/, var/run/aesmd/)', D.hostRoot)
    .option('--kubelet-dir <dir>', 'kubelet device-plugins directory (kubelet.sock)', D.kubeletDir)
    .option('--resources <list>', 'comma-separated resources to advertise: epc-mib, enclave, provision, epc, tdx-guest (or full names); default the SGX ones, plus tdx-guest where /dev/tdx_guest exists')
    .option('--enclave-slots <n>', `${ENCLAVE_RESOURCE} slots`, String(D.enclaveSlots))
    .option('--provision-slots <n>', `${PROVISION_RESOURCE} slots`, String(D.provisionSlots))
    .option('--epc-bytes <n>', 'EPC size in bytes, for kernels without sgx_total_bytes in sysfs')
    .option('--epc-file <file>', 'EPC sections from CPUID as `node-agent probe-epc` wrote them (a privileged init container), instead of opening /dev/cpu/<n>/cpuid here; sysfs still wins')
    .option('--no-node-update', 'do not patch EPC capacity and labels into the Node')
    .option('--node-name <name>', 'this Node (default: NODE_NAME env)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster service account)')
    .option('--metrics-addr <host:port>', 'serve /metrics /healthz /readyz /status here')
    .option('--discovery-interval <ms>', 'how often to re-scan the host for SGX', String(D.discoveryIntervalMs))
    .action(
      action(async (flags: NodeAgentFlags) => {
        const options = usage(() =>
          parseNodeAgentOptions({
            hostRoot: flags.hostRoot,
            kubeletDir: flags.kubeletDir,
            resources: flags.resources,
            enclaveSlots: flags.enclaveSlots,
            provisionSlots: flags.provisionSlots,
            epcBytes: flags.epcBytes,
            epcFile: flags.epcFile,
            nodeUpdate: flags.nodeUpdate,
            nodeName: flags.nodeName ?? process.env.NODE_NAME,
            kubeconfig: flags.kubeconfig,
            metricsAddr: flags.metricsAddr,
            discoveryIntervalMs: flags.discoveryInterval,
          }),
        );
        const log = createLogger('node-agent');
        await serveUntilSignal(log, () => startNodeAgent({ ...options, logger: log }));
      }),
    );
  nodeAgent
    .command('probe-epc')
    .description('read the EPC sections (sysfs, else CPUID leaf 0x12 through /dev/cpu/<n>/cpuid) once and write them for `node-agent --epc-file`: run in a privileged init container so the agent itself needs no device access')
    .option('--host-root <dir>', 'where the host filesystem is mounted (sys/, dev/)', '/')
    .requiredOption('--out <file>', 'where to write the probe (JSON)')
    .action(
      action(async (o: { hostRoot: string; out: string }) => {
        const probe = await probeEpc(o.hostRoot);
        await writeEpcProbeFile(o.out, probe);
        const sections = probe.cpuid?.sections ?? [];
        const bytes = sections.reduce((n, sec) => n + sec.bytes, 0);
        createLogger('node-agent').info({ out: o.out, sysfsEpc: probe.sysfsEpc, cpuidDevice: probe.cpuid?.device, sgx: probe.cpuid?.sgx, sections: sections.length, epcBytes: bytes, reason: probe.reason }, 'EPC probed');
      }),
    );
}
