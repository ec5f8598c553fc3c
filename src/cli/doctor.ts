/**
 * `kube-sgx doctor` (the cluster) and `kube-sgx doctor --node` (this node):
 * parsing and wiring only; the checks are in src/doctor/. Exit codes: 0 no
 * errors (warnings may be printed), 1 errors found, 2 usage, 3 could not
 * check (no kubeconfig, API unreachable, no host root).
 */
import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { action, parseIntFlag, printJson, UsageError, EXIT_OK, EXIT_REJECTED, EXIT_UNCHECKED } from './io.js';
import { defaultWebhookConfig, loadWebhookConfigFile } from '../webhook/config.js';
import { isKubeSgxError } from '../errors.js';
import { loadKubeConfig } from './kubeconfig.js';

interface DoctorFlags {
  kubeconfig?: string;
  config?: string;
  nodeGroups?: string;
  json?: boolean;
  node?: boolean;
  hostRoot: string;
  epcBytes?: string;
  epcFile?: string;
  qcnlConfig?: string;
  libraryPath?: string;
  aesmSocket?: string;
  timeout: string;
}

/** Errors that mean "the cluster could not be read", not "the cluster is broken". */
const UNCHECKED_CODES = new Set(['KUBECONFIG_MISSING', 'KUBECONFIG_INVALID', 'DOCTOR_API_UNREACHABLE']);

async function nodeDoctor(o: DoctorFlags): Promise<number> {
  const clusterOnly = ['kubeconfig', 'config', 'nodeGroups'] as const;
  const clusterFlag = clusterOnly.find((k) => o[k] !== undefined);
  if (clusterFlag) throw new UsageError(`--${clusterFlag.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is for the cluster check; --node checks this node only`);
  const st = await stat(o.hostRoot).catch(() => null);
  if (!st?.isDirectory()) {
    printJson({ error: { code: 'HOST_ROOT_MISSING', message: `--host-root ${o.hostRoot} is not a directory: nothing to check`, path: ['host-root'] } });
    return EXIT_UNCHECKED;
  }
  const { runNodeDoctor, formatNodeDoctorReport } = await import('../doctor/node.js');
  const report = await runNodeDoctor({
    hostRoot: o.hostRoot,
    ...(o.epcBytes !== undefined ? { epcBytes: parseIntFlag('--epc-bytes', o.epcBytes, 0) } : {}),
    ...(o.epcFile !== undefined ? { epcFile: o.epcFile } : {}),
    ...(o.qcnlConfig ? { qcnlConfig: o.qcnlConfig } : {}),
    ...(o.libraryPath ? { libraryPath: o.libraryPath.split(':').filter(Boolean) } : {}),
    ...(o.aesmSocket ? { aesmSocket: o.aesmSocket } : {}),
    timeoutMs: parseIntFlag('--timeout', o.timeout, 1, 600_000),
  });
  if (o.json) printJson(report);
  else process.stdout.write(formatNodeDoctorReport(report));
  return report.ok ? EXIT_OK : EXIT_REJECTED;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check a cluster for SGX scheduling, webhook and autoscaling problems, or with --node this node (exit 1 on errors, 3 when it could not check)')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, in-cluster, or ~/.kube/config)')
    .option('--config <file>', 'webhook config (YAML or JSON): labels, taints, names, namespace')
    .option('--node-groups <file>', 'AWS ASG / Azure VMSS node groups with their autoscaler tags (YAML or JSON list)')
    .option('--json', 'print the report as JSON')
    .option('--node', 'check this node instead: driver, device nodes, EPC, aesmd socket, quote libraries, QCNL config, PCCS/THIM')
    .option('--host-root <dir>', '--node: where the host filesystem is mounted', '/')
    .option('--epc-bytes <n>', '--node: EPC size as given to the node agent')
    .option('--epc-file <file>', '--node: EPC probe file as given to the node agent (in its pod: /run/kube-sgx/epc.json)')
    .option('--qcnl-config <file>', '--node: QCNL config (default <host-root>/etc/sgx_default_qcnl.conf)')
    .option('--library-path <dirs>', '--node: colon-separated directories holding libsgx_dcap_ql / libdcap_quoteprov (default: the loader\'s directories under <host-root>)')
    .option('--aesm-socket <path>', '--node: aesmd socket (default <host-root>/var/run/aesmd/aesm.socket)')
    .option('--timeout <ms>', '--node: per socket / network check', '5000')
    .action(
      action(async (o: DoctorFlags) => {
        if (o.node) return nodeDoctor(o);
        const { formatDoctorReport, parseNodeGroupTemplates, runDoctor } = await import('../doctor/doctor.js');
        const config = o.config ? await loadWebhookConfigFile(o.config) : defaultWebhookConfig;
        const nodeGroups = o.nodeGroups ? parseNodeGroupTemplates(await readFile(o.nodeGroups, 'utf8')) : undefined;
        let report;
        try {
          report = await runDoctor({ kubeConfig: await loadKubeConfig(o.kubeconfig), config, ...(nodeGroups ? { nodeGroups } : {}) });
        } catch (e) {
          if (!isKubeSgxError(e) || !UNCHECKED_CODES.has(e.code)) throw e;
          printJson({ error: e.toJSON() });
          return EXIT_UNCHECKED;
        }
        if (o.json) printJson(report);
        else process.stdout.write(formatDoctorReport(report));
        return report.errors === 0 ? EXIT_OK : EXIT_REJECTED;
      }),
    );
}
