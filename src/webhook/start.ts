/**
 * The webhook's composition root: options (one zod schema, shared with
 * `kube-sgx webhook`), the config file, node capacity for
 * `maxEpcPerNode: fromNodes`, the HTTPS server and the optional plain-HTTP
 * ops endpoint, started and stopped by the shared ComponentLifecycle. The CLI
 * parses flags and calls startWebhook(); tests and embedders call it directly.
 */
import { z } from 'zod';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../ops/log.js';
import { intOption, parseOptions } from '../ops/options.js';
import { ComponentLifecycle } from '../ops/lifecycle.js';
import { defaultWebhookConfig, loadWebhookConfigFile, webhookConfigSchema, type WebhookConfig } from './config.js';
import type { NodeEpcCapacity } from './nodecap.js';
import { MAX_BUFFERED_REVIEW_BYTES, MAX_REVIEW_BODY_BYTES, startWebhookServer, type WebhookServer } from './server.js';

const GIB = 1024 * 1024 * 1024;

export const WEBHOOK_DEFAULTS = { listen: '0.0.0.0:8443' } as const;

export const webhookOptionsSchema = z
  .object({
    /** "HOST:PORT" to serve HTTPS on; port 0 picks a free port. */
    listen: z.string().min(1).default(WEBHOOK_DEFAULTS.listen),
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    /** Webhook config file (YAML or JSON). */
    configFile: z.string().min(1).optional(),
    /** Or the config itself (validated by webhookConfigSchema). */
    config: webhookConfigSchema.optional(),
    /** kubeconfig for `maxEpcPerNode: fromNodes` (default: in-cluster or ~/.kube/config). */
    kubeconfigFile: z.string().min(1).optional(),
    /** Also serve /metrics /healthz /readyz /status over plain HTTP here. */
    metricsAddr: z.string().min(1).optional(),
    certPollMs: intOption(z, 10, 3_600_000).optional(),
    maxBodyBytes: intOption(z, 1024, GIB).default(MAX_REVIEW_BODY_BYTES),
    maxBufferedBytes: intOption(z, 1024, 16 * GIB).default(MAX_BUFFERED_REVIEW_BYTES),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!o.tlsCertFile || !o.tlsKeyFile) {
      ctx.addIssue({ code: 'custom', path: [o.tlsCertFile ? 'tlsKeyFile' : 'tlsCertFile'], message: '--tls-cert and --tls-key are required (kube-sgx webhook certs makes a pair)' });
    }
    if (o.config && o.configFile) ctx.addIssue({ code: 'custom', path: ['config'], message: 'give a config or a config file, not both' });
  });

export type WebhookOptions = z.output<typeof webhookOptionsSchema>;
export type WebhookOptionsInput = z.input<typeof webhookOptionsSchema>;

export const WEBHOOK_FLAGS = {
  listen: '--listen',
  tlsCertFile: '--tls-cert',
  tlsKeyFile: '--tls-key',
  configFile: '--config',
  kubeconfigFile: '--kubeconfig',
  metricsAddr: '--metrics-addr',
} as const;

/** Validates and defaults; WEBHOOK_OPTIONS_INVALID names the flag (or field) at fault. */
export function parseWebhookOptions(input: unknown): WebhookOptions {
  return parseOptions(webhookOptionsSchema, input ?? {}, 'WEBHOOK_OPTIONS_INVALID', WEBHOOK_FLAGS);
}

export interface StartWebhookOptions extends WebhookOptionsInput {
  logger?: Logger;
  /** Loads the kubeconfig for `fromNodes` (default: src/ops/kubeconfig.ts). */
  loadKubeConfig?: (file: string | undefined) => Promise<KubeConfig>;
}

export interface RunningWebhook {
  readonly url: string;
  /** The plain-HTTP ops endpoint, when metricsAddr was given. */
  readonly opsUrl: string | undefined;
  readonly config: WebhookConfig;
  readonly server: WebhookServer;
  stop(): Promise<void>;
}

export async function startWebhook(input: StartWebhookOptions): Promise<RunningWebhook> {
  const { logger, loadKubeConfig, ...data } = input;
  const o = parseWebhookOptions(data);
  const log = logger ?? createLogger('webhook');
  const config = o.config ?? (o.configFile ? await loadWebhookConfigFile(o.configFile) : defaultWebhookConfig);

  let capacity: NodeEpcCapacity | undefined;
  if (config.maxEpcPerNode === 'fromNodes') {
    // @kubernetes/client-node is loaded only here, so a webhook with a fixed maxEpcPerNode never pays for it.
    const [{ NodeEpcCapacity }, load] = await Promise.all([
      import('./nodecap.js'),
      loadKubeConfig ?? import('../ops/kubeconfig.js').then((m) => m.loadKubeConfig),
    ]);
    capacity = NodeEpcCapacity.fromConfig(await load(o.kubeconfigFile), config);
    await capacity.refresh();
  }

  const life = new ComponentLifecycle(log, 'webhook');
  const { server, ops } = await life.starting(async () => {
    const server = await startWebhookServer({
      listen: o.listen,
      tlsCertFile: o.tlsCertFile!,
      tlsKeyFile: o.tlsKeyFile!,
      config,
      logger: log,
      maxBodyBytes: o.maxBodyBytes,
      maxBufferedBytes: o.maxBufferedBytes,
      ...(o.certPollMs !== undefined ? { certPollMs: o.certPollMs } : {}),
      ...(capacity ? { maxEpcPerNode: () => capacity.current() } : {}),
    });
    life.closeOnStop(() => server.close());
    // The webhook reports a --metrics-addr it cannot bind as the listener's own LISTEN_FAILED, as it always has.
    const ops = await life.serveOps(o.metricsAddr, {
      registry: server.registry,
      ready: () => server.ready(),
      status: () => ({ url: server.url, maxEpcPerNode: config.maxEpcPerNode ?? null, nodeCapacityError: capacity?.lastError ?? null }),
    }, (_addr, listenError) => listenError);
    return { server, ops };
  });
  log.info({ url: server.url, metrics: ops?.url }, 'webhook serving');
  return { url: server.url, opsUrl: ops?.url, config, server, stop: life.stopper({ url: server.url }) };
}
