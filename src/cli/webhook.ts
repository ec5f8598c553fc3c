/**
 * `kube-sgx webhook` (serve), `kube-sgx webhook certs`, `kube-sgx webhook
 * manifests`. Parsing and wiring only; the work is in
 * src/webhook/.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { action, collect, hostPortFlag, parseIntFlag, printJson, serveUntilSignal, usage, UsageError } from './io.js';
import { createLogger } from '../ops/log.js';
import { defaultWebhookConfig, loadWebhookConfigFile, type WebhookConfig } from '../webhook/config.js';
import { parseWebhookOptions, startWebhook, WEBHOOK_DEFAULTS } from '../webhook/start.js';
import { generateWebhookCertificates, keepPreviousWebhookCa, readWebhookCa, writeWebhookCertificates, type WebhookKeyType } from '../webhook/certs.js';
import { renderWebhookManifestsYaml } from '../webhook/manifests.js';
import { loadKubeConfig } from '../ops/kubeconfig.js';

async function configFrom(file: string | undefined): Promise<WebhookConfig> {
  return file ? loadWebhookConfigFile(file) : defaultWebhookConfig;
}

export function registerWebhookCommands(program: Command): void {
  const webhook = program
    .command('webhook')
    .description('serve the SGX admission webhook (/mutate, /validate) over HTTPS until SIGINT/SIGTERM')
    .option('--listen <host:port>', 'address to serve HTTPS on', WEBHOOK_DEFAULTS.listen)
    .option('--tls-cert <file>', 'serving certificate (PEM); re-read when it changes')
    .option('--tls-key <file>', 'serving key (PEM); re-read when it changes')
    .option('--config <file>', 'webhook config (YAML or JSON)')
    .option('--kubeconfig <file>', 'kubeconfig for maxEpcPerNode: fromNodes (default: in-cluster or ~/.kube/config)')
    .option('--metrics-addr <host:port>', 'also serve /metrics /healthz /readyz over plain HTTP here (the HTTPS port serves them too)')
    .action(
      action(async (o: { listen: string; tlsCert?: string; tlsKey?: string; config?: string; kubeconfig?: string; metricsAddr?: string }) => {
        hostPortFlag('--listen', o.listen);
        hostPortFlag('--metrics-addr', o.metricsAddr);
        const options = usage(() =>
          parseWebhookOptions({
            listen: o.listen,
            tlsCertFile: o.tlsCert,
            tlsKeyFile: o.tlsKey,
            configFile: o.config,
            kubeconfigFile: o.kubeconfig,
            metricsAddr: o.metricsAddr,
          }),
        );
        const log = createLogger('webhook');
        await serveUntilSignal(log, () => startWebhook({ ...options, logger: log, loadKubeConfig }));
      }),
    );

  webhook
    .command('certs')
    .description('make a serving certificate (tls.crt, tls.key) signed by the CA in --ca-dir, creating that CA only if there is none (for clusters without cert-manager)')
    .requiredOption('--out <dir>', 'directory for tls.crt, tls.key (and ca.crt, ca.key unless --ca-dir)')
    .option('--ca-dir <dir>', 'directory of the CA (ca.crt, ca.key): reused when present, created when absent (default: --out)')
    .option('--force', 'make a new CA even if --ca-dir holds one (every caBundle and client must then get the new ca.crt)')
    .option('--dns-name <name>', 'a DNS name for the certificate, e.g. kube-sgx-webhook.kube-sgx.svc (repeatable)', collect, [])
    .option('--ip <address>', 'an IP address SAN (repeatable)', collect, [])
    .option('--key-type <type>', 'p256 or rsa', 'p256')
    .option('--days <n>', 'serving certificate lifetime in days', '365')
    .option('--ca-days <n>', 'CA lifetime in days', '3650')
    .action(
      action(async (o: { out: string; caDir?: string; force?: boolean; dnsName: string[]; ip: string[]; keyType: string; days: string; caDays: string }) => {
        if (o.dnsName.length === 0) throw new UsageError('--dns-name is required at least once (e.g. kube-sgx-webhook.kube-sgx.svc)');
        if (o.keyType !== 'p256' && o.keyType !== 'rsa') throw new UsageError(`--key-type: expected p256 or rsa, got ${JSON.stringify(o.keyType)}`);
        const caDir = o.caDir ?? o.out;
        // An existing CA is what every caBundle and client already trusts: reuse it unless told otherwise.
        const existing = o.force ? undefined : await readWebhookCa(caDir);
        // --force keeps the replaced CA beside the new one: during the switch the caBundle holds both.
        const previous = o.force ? await keepPreviousWebhookCa(caDir) : undefined;
        const bundle = await generateWebhookCertificates({
          dnsNames: o.dnsName,
          ipAddresses: o.ip,
          keyType: o.keyType as WebhookKeyType,
          days: parseIntFlag('--days', o.days, 1, 36500),
          caDays: parseIntFlag('--ca-days', o.caDays, 1, 36500),
          ...(existing ? { ca: existing } : {}),
        });
        const files = await writeWebhookCertificates(o.out, bundle, caDir);
        printJson({ files, dnsNames: o.dnsName, ca: existing ? 'reused' : 'created', ...(previous ? { previousCa: previous } : {}) });
      }),
    );

  webhook
    .command('manifests')
    .description('print the Mutating and Validating WebhookConfiguration YAML with caBundle filled in')
    .requiredOption('--ca-bundle <file>', 'PEM CA certificate(s) that signed the serving certificate')
    .option('--namespace <ns>', 'namespace of the webhook Service (default: config namespace)')
    .option('--service <name>', 'webhook Service name', 'kube-sgx-webhook')
    .option('--port <n>', 'Service port', '443')
    .option('--name <name>', 'configuration object name', 'kube-sgx-webhook')
    .option('--failure-policy <policy>', 'Fail or Ignore', 'Fail')
    .option('--no-match-conditions', 'omit matchConditions (Kubernetes < 1.28); Fail then applies to every pod in scope')
    .option('--config <file>', 'webhook config (YAML or JSON)')
    .action(
      action(async (o: { caBundle: string; namespace?: string; service: string; port: string; name: string; failurePolicy: string; matchConditions: boolean; config?: string }) => {
        if (o.failurePolicy !== 'Fail' && o.failurePolicy !== 'Ignore') throw new UsageError('--failure-policy: expected Fail or Ignore');
        let pem: string;
        try {
          pem = await readFile(o.caBundle, 'utf8');
        } catch (e) {
          throw new UsageError(`--ca-bundle: cannot read ${o.caBundle}: ${(e as Error).message}`);
        }
        process.stdout.write(
          renderWebhookManifestsYaml({
            caBundlePem: pem,
            config: await configFrom(o.config),
            ...(o.namespace ? { namespace: o.namespace } : {}),
            serviceName: o.service,
            servicePort: parseIntFlag('--port', o.port, 1, 65535),
            name: o.name,
            failurePolicy: o.failurePolicy,
            matchConditions: o.matchConditions,
          }),
        );
      }),
    );
}
