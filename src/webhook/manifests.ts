/**
 * The MutatingWebhookConfiguration and ValidatingWebhookConfiguration, built
 * from code so the paths, names and selectors the server serves and the ones
 * the API server calls cannot drift apart. The deploy manifests call
 * `buildWebhookConfigurations`; operators run `kube-sgx webhook manifests`.
 *
 * failurePolicy: Fail on both, scoped by `matchConditions` to pods that ask
 * for an SGX resource or carry the quote-provider annotation. When the
 * webhook is down, SGX pods are refused with "failed calling webhook" (loud,
 * retried by their controllers) instead of being admitted without a device;
 * every other pod never reaches the webhook. See docs/webhook.md.
 */
import { stringify } from 'yaml';
import { KubeSgxError } from '../errors.js';
import { INTEL_SGX_RESOURCE_PREFIX, LEGACY_EPC_RESOURCE, MUTATING_WEBHOOK_NAME, QUOTE_PROVIDER_ANNOTATION, VALIDATING_WEBHOOK_NAME, WEBHOOK_OPT_OUT_LABEL } from '../names.js';
import { defaultWebhookConfig, type WebhookConfig } from './config.js';
import { parsePemCertificates } from './certs.js';


export interface WebhookManifestOptions {
  /** PEM of the CA that signed the serving certificate (one or more certificates). */
  caBundlePem: string;
  /** Configuration object name (both kinds). */
  name?: string;
  namespace?: string;
  serviceName?: string;
  servicePort?: number;
  config?: WebhookConfig;
  failurePolicy?: 'Fail' | 'Ignore';
  /** matchConditions need Kubernetes ≥ 1.28 (beta, on by default) / 1.30 (GA); without them Fail applies to every pod in scope. */
  matchConditions?: boolean;
  timeoutSeconds?: number;
}

/** CEL: the pod asks for any SGX resource (either name family) or names a quote provider. */
export function sgxPodCelExpression(): string {
  const keyTest = `k.startsWith('${INTEL_SGX_RESOURCE_PREFIX}') || k == '${LEGACY_EPC_RESOURCE}'`;
  const container = (c: string) =>
    `(has(${c}.resources) && ((has(${c}.resources.limits) && ${c}.resources.limits.exists(k, ${keyTest})) || (has(${c}.resources.requests) && ${c}.resources.requests.exists(k, ${keyTest}))))`;
  return [
    `object.spec.containers.exists(c, ${container('c')})`,
    `(has(object.spec.initContainers) && object.spec.initContainers.exists(c, ${container('c')}))`,
    `(has(object.metadata.annotations) && '${QUOTE_PROVIDER_ANNOTATION}' in object.metadata.annotations)`,
  ].join(' || ');
}

export interface WebhookConfigurations {
  mutating: Record<string, unknown>;
  validating: Record<string, unknown>;
}

export function buildWebhookConfigurations(opts: WebhookManifestOptions): WebhookConfigurations {
  const certs = parsePemCertificates(opts.caBundlePem);
  if (certs.length === 0) throw new KubeSgxError('WEBHOOK_CA_BUNDLE_EMPTY', 'the CA bundle holds no PEM certificate');
  const config = opts.config ?? defaultWebhookConfig;
  const namespace = opts.namespace ?? config.namespace;
  const name = opts.name ?? 'kube-sgx-webhook';
  const service = (path: string) => ({
    service: { namespace, name: opts.serviceName ?? 'kube-sgx-webhook', path, port: opts.servicePort ?? 443 },
    caBundle: Buffer.from(certs.map((c) => c.toString().trim()).join('\n') + '\n').toString('base64'),
  });
  const skip = [...new Set([namespace, ...config.skipNamespaces])];
  const common = {
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    failurePolicy: opts.failurePolicy ?? 'Fail',
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: opts.timeoutSeconds ?? 5,
    namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: skip }] },
    ...(opts.matchConditions === false ? {} : { matchConditions: [{ name: 'sgx-pods-only', expression: sgxPodCelExpression() }] }),
  };
  const labels = { 'app.kubernetes.io/name': 'kube-sgx', 'app.kubernetes.io/component': 'webhook' };
  return {
    mutating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name, labels },
      webhooks: [
        {
          name: MUTATING_WEBHOOK_NAME,
          clientConfig: service('/mutate'),
          ...common,
          // Opting out skips mutation only: the validating webhook still checks the pod.
          objectSelector: { matchExpressions: [{ key: WEBHOOK_OPT_OUT_LABEL, operator: 'NotIn', values: ['disabled'] }] },
          reinvocationPolicy: 'IfNeeded',
        },
      ],
    },
    validating: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name, labels },
      webhooks: [{ name: VALIDATING_WEBHOOK_NAME, clientConfig: service('/validate'), ...common }],
    },
  };
}

/** Both configurations as a two-document YAML stream. */
export function renderWebhookManifestsYaml(opts: WebhookManifestOptions): string {
  const { mutating, validating } = buildWebhookConfigurations(opts);
  return `${stringify(mutating, { lineWidth: 0 })}---\n${stringify(validating, { lineWidth: 0 })}`;
}
