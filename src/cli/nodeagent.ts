/** `kube-sgx node-agent`: SGX discovery, kubelet device plugins, Node EPC capacity and labels. */
import type { Command } from 'commander';
import { startNodeAgent, parseSgxResourceList } from '../nodeagent/agent.js';
import { DEFAULT_KUBELET_DIR } from '../deviceplugin/manager.js';
import { DEFAULT_SLOTS } from '../nodeagent/sgx-plugins.js';
import { ENCLAVE_RESOURCE, EPC_RESOURCE, PROVISION_RESOURCE } from '../names.js';
import { createLogger } from '../ops/log.js';
import { probeEpc, writeEpcProbeFile } from '../node/epc-probe.js';
import { action, hostPortFlag, parseIntFlag, untilSignal, UsageError } from './io.js';
import { isKubeSgxError } from '../errors.js';

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
    .option('--host-root <dir>', 'where the host filesystem is mounted (proc/, sys/, dev/, var/run/aesmd/)', '/')
    .option('--kubelet-dir <dir>', 'kubelet device-plugins directory (kubelet.sock)', DEFAULT_KUBELET_DIR)
    .option('--resources <list>', 'comma-separated resources to advertise: epc-mib, enclave, provision, epc, tdx-guest (or full names); default the SGX ones, plus tdx-guest where /dev/tdx_guest exists')
    .option('--enclave-slots <n>', `${ENCLAVE_RESOURCE} slots`, String(DEFAULT_SLOTS))
    .option('--provision-slots <n>', `${PROVISION_RESOURCE} slots`, String(DEFAULT_SLOTS))
    .option('--epc-bytes <n>', 'EPC size in bytes, for kernels without sgx_total_bytes in sysfs')
    .option('--epc-file <file>', 'EPC sections from CPUID as `node-agent probe-epc` wrote them (a privileged init container), instead of opening /dev/cpu/<n>/cpuid here; sysfs still wins')
    .option('--no-node-update', 'do not patch EPC capacity and labels into the Node')
    .option('--node-name <name>', 'this Node (default: NODE_NAME env)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster service account)')
    .option('--metrics-addr <host:port>', 'serve /metrics /healthz /readyz /status here')
    .option('--discovery-interval <ms>', 'how often to re-scan the host for SGX', '5000')
    .action(
      action(async (flags: NodeAgentFlags) => {
        const wrapUsage = <T>(fn: () => T): T => {
          try {
            return fn();
          } catch (e) {
            throw isKubeSgxError(e) && !(e instanceof UsageError) ? new UsageError(e.message) : e;
          }
        };
        hostPortFlag('--metrics-addr', flags.metricsAddr);
        const resources = flags.resources === undefined ? undefined : wrapUsage(() => parseSgxResourceList(flags.resources ?? ''));
        const nodeName = flags.nodeName ?? process.env.NODE_NAME;
        // Listen for signals before starting: a SIGTERM during start-up still shuts down cleanly.
        const signalled = untilSignal();
        const agent = await startNodeAgent({
          hostRoot: flags.hostRoot,
          kubeletDir: flags.kubeletDir,
          resources,
          enclaveSlots: parseIntFlag('--enclave-slots', flags.enclaveSlots, 1, 100000),
          provisionSlots: parseIntFlag('--provision-slots', flags.provisionSlots, 1, 100000),
          epcBytes: flags.epcBytes === undefined ? undefined : parseIntFlag('--epc-bytes', flags.epcBytes, 0),
          epcFile: flags.epcFile,
          nodeUpdate: flags.nodeUpdate,
          nodeName,
          kubeconfig: flags.kubeconfig,
          metricsAddr: flags.metricsAddr,
          discoveryIntervalMs: parseIntFlag('--discovery-interval', flags.discoveryInterval, 100),
          logger: createLogger('node-agent'),
        });
        const sig = await signalled;
        createLogger('node-agent').info({ signal: sig }, 'shutting down');
        await agent.stop();
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
