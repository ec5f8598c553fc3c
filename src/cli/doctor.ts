/** `kube-sgx doctor`: parsing and wiring only; the checks are in src/doctor/. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { action, printJson, EXIT_OK, EXIT_REJECTED } from './io.js';
import { defaultWebhookConfig, loadWebhookConfigFile } from '../webhook/config.js';
import { loadKubeConfig } from './kubeconfig.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check a cluster for SGX scheduling, webhook and autoscaling problems (exit 1 when any is found)')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, in-cluster, or ~/.kube/config)')
    .option('--config <file>', 'webhook config (YAML or JSON): labels, taints, names, namespace')
    .option('--node-groups <file>', 'AWS ASG / Azure VMSS node groups with their autoscaler tags (YAML or JSON list)')
    .option('--json', 'print the report as JSON')
    .action(
      action(async (o: { kubeconfig?: string; config?: string; nodeGroups?: string; json?: boolean }) => {
        const { formatDoctorReport, parseNodeGroupTemplates, runDoctor } = await import('../doctor/doctor.js');
        const config = o.config ? await loadWebhookConfigFile(o.config) : defaultWebhookConfig;
        const nodeGroups = o.nodeGroups ? parseNodeGroupTemplates(await readFile(o.nodeGroups, 'utf8')) : undefined;
        const report = await runDoctor({ kubeConfig: await loadKubeConfig(o.kubeconfig), config, ...(nodeGroups ? { nodeGroups } : {}) });
        if (o.json) printJson(report);
        else process.stdout.write(formatDoctorReport(report));
        return report.ok ? EXIT_OK : EXIT_REJECTED;
      }),
    );
}
