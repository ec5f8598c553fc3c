/**
 * Webhook and doctor configuration (`--config FILE`, YAML or JSON). Every
 * field has a default that matches a stock kube-sgx install; errors name the
 * offending field (`taints[0].effect: …`).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KubeSgxError } from '../errors.js';
import { AESMD_SOCKET_DIR, AESMD_VOLUME_NAME, EPC_RESOURCE, INTEL_QUOTE_PROVIDER_ANNOTATION, LABEL_SGX_CAPABLE, LEGACY_EPC_RESOURCE, QUOTE_PROVIDER_ANNOTATION } from '../names.js';
import { parseIntegerQuantity } from './quantity.js';

/**
 * The pod's quote provider: kube-sgx's annotation when present (it is
 * validated; a typo is denied), else Intel's (not validated: Intel's webhook
 * ignores values it does not know, and so does this one).
 */
export function quoteProviderOf(annotations: Record<string, string> | undefined): { value: string; annotation: string } | undefined {
  if (!annotations) return undefined;
  for (const annotation of [QUOTE_PROVIDER_ANNOTATION, INTEL_QUOTE_PROVIDER_ANNOTATION]) {
    const value = annotations[annotation];
    if (typeof value === 'string' && Object.hasOwn(annotations, annotation)) return { value, annotation };
  }
  return undefined;
}
export const EPC_NAMES = [EPC_RESOURCE, LEGACY_EPC_RESOURCE] as const;

const labelKey = z
  .string()
  .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'not a valid label/taint key');
const quantityText = z.string().refine((s) => {
  try {
    parseIntegerQuantity(s);
    return true;
  } catch {
    return false;
  }
}, 'not a whole-number Kubernetes quantity (e.g. "64Gi")');

const taintSchema = z
  .object({
    key: labelKey,
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
  })
  .strict();

export const webhookConfigSchema = z
  .object({
    /** EPC names to emit on pods: whatever the cluster's node agents advertise. Accepted on input: both, always. */
    epcResourceNames: z.array(z.enum(EPC_NAMES)).min(1).default([EPC_RESOURCE]),
    /** Label every SGX node carries; pods get a required node affinity to it. */
    nodeLabel: z
      .object({ key: labelKey, value: z.string().max(63) })
      .strict()
      .default({ key: LABEL_SGX_CAPABLE, value: 'true' }),
    /** Taints on SGX pools; SGX pods get a toleration for each. */
    taints: z.array(taintSchema).default([{ key: EPC_RESOURCE, effect: 'NoSchedule' }]),
    /** Also tolerate a NoSchedule taint keyed by every SGX resource the pod requests (what ExtendedResourceToleration does). */
    tolerateRequestedResources: z.boolean().default(true),
    /** Largest EPC one node offers: a quantity, "fromNodes" (read node allocatable), or unset (no size check). */
    maxEpcPerNode: z.union([z.literal('fromNodes'), quantityText]).optional(),
    /** How long node capacity read with "fromNodes" is reused. */
    nodeCacheSeconds: z.number().int().min(1).max(3600).default(30),
    /** Namespaces whose pods pass untouched (also excluded in the generated webhook configurations). */
    skipNamespaces: z.array(z.string().min(1)).default(['kube-system']),
    /** The namespace kube-sgx runs in (skipped too; its own daemons request EPC). */
    namespace: z.string().min(1).default('kube-sgx'),
    aesmd: z
      .object({
        /** Host directory of the socket: mounted only into Intel's aesmd DaemonSet layout (the pod that creates the socket). */
        hostPath: z.string().startsWith('/').default(AESMD_SOCKET_DIR),
        mountPath: z.string().startsWith('/').default(AESMD_SOCKET_DIR),
        volumeName: z.string().min(1).default(AESMD_VOLUME_NAME),
      })
      .strict()
      .default({ hostPath: AESMD_SOCKET_DIR, mountPath: AESMD_SOCKET_DIR, volumeName: AESMD_VOLUME_NAME }),
    /** Pod annotation carrying the total EPC (Intel's name, read by Kata for virtual EPC). */
    epcAnnotation: z.string().min(1).default(EPC_RESOURCE),
    /** Validation denies EPC containers without the enclave device (mutation bypassed). */
    requireEnclaveDevice: z.boolean().default(true),
    doctor: z
      .object({
        nodeAgentDaemonSet: z.string().default('kube-sgx-node-agent'),
        quoteHelperDaemonSet: z.string().default('kube-sgx-quote-helper'),
        /** cert-manager style Secret (`tls.crt`) the webhook serves from. */
        webhookTlsSecret: z.string().default('kube-sgx-webhook-tls'),
        /** Webhook configuration names the doctor looks for. */
        webhookConfigurationName: z.string().default('kube-sgx-webhook'),
        certWarnDays: z.number().int().min(0).default(30),
      })
      .strict()
      .default({
        nodeAgentDaemonSet: 'kube-sgx-node-agent',
        quoteHelperDaemonSet: 'kube-sgx-quote-helper',
        webhookTlsSecret: 'kube-sgx-webhook-tls',
        webhookConfigurationName: 'kube-sgx-webhook',
        certWarnDays: 30,
      }),
  })
  .strict();

export type WebhookConfig = z.output<typeof webhookConfigSchema>;
export type WebhookConfigInput = z.input<typeof webhookConfigSchema>;

/** Validates a config object; the error names the first bad field and lists all of them in details. */
export function parseWebhookConfig(input: unknown = {}): WebhookConfig {
  const r = webhookConfigSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: i.message }));
  const first = issues[0]!;
  const where = first.path.length ? first.path.join('.') : '(root)';
  throw new KubeSgxError('WEBHOOK_CONFIG_INVALID', `webhook config: ${where}: ${first.message}`, {
    path: first.path,
    details: { issues },
  });
}

export const defaultWebhookConfig: WebhookConfig = parseWebhookConfig({});

/** Reads a YAML or JSON config file (JSON is YAML). */
export async function loadWebhookConfigFile(file: string): Promise<WebhookConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new KubeSgxError('WEBHOOK_CONFIG_UNREADABLE', `cannot read config ${file}: ${(e as Error).message}`, { cause: e });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new KubeSgxError('WEBHOOK_CONFIG_INVALID', `config ${file} is not YAML/JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseWebhookConfig(data ?? {});
}
