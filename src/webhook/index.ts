/**
 * kube-sgx admission webhook: pod mutation and validation for SGX workloads,
 * the HTTPS server, certificates and webhook manifests.
 * See docs/webhook.md.
 */
export {
  quoteProviderOf,
  webhookConfigSchema,
  parseWebhookConfig,
  loadWebhookConfigFile,
  defaultWebhookConfig,
  type WebhookConfig,
  type WebhookConfigInput,
} from './config.js';
export {
  parseQuantity as parseKubernetesQuantity,
  parseIntegerQuantity,
  quantityToInteger,
  formatBinarySI,
  type Quantity as KubernetesQuantity,
} from './quantity.js';
export { readPod as readSgxPod, analyzePod as analyzeSgxPod, type Pod as SgxPod, type PodProblem as SgxPodProblem, type PodSgx, type ContainerSgx } from './pod.js';
export { mutatePod, escapeJsonPointer, jsonPointer, toleratesTaint, type JsonPatchOp } from './mutate.js';
export { validatePod, configuredMaxEpcBytes, type PodValidation, type ValidationContext } from './validate.js';
export {
  reviewAdmission,
  parseAdmissionReview,
  type ReviewKind,
  type AdmissionResponse,
  type AdmissionReviewResponse,
} from './review.js';
export { startWebhookServer, MAX_REVIEW_BODY_BYTES, MAX_BUFFERED_REVIEW_BYTES, type WebhookServer, type WebhookServerOptions } from './server.js';
export {
  startWebhook,
  parseWebhookOptions,
  webhookOptionsSchema,
  WEBHOOK_DEFAULTS,
  type StartWebhookOptions,
  type RunningWebhook,
  type WebhookOptions,
  type WebhookOptionsInput,
} from './start.js';
export { NodeEpcCapacity, maxEpcFromNodes, nodeEpcBytes, nodeListerFromKubeConfig, type NodeLister } from './nodecap.js';
export {
  generateWebhookCertificates,
  writeWebhookCertificates,
  type WebhookCertBundle,
  type WebhookCertOptions,
  type WebhookKeyType,
} from './certs.js';
export {
  buildWebhookConfigurations,
  renderWebhookManifestsYaml,
  sgxPodCelExpression,
  type WebhookManifestOptions,
  type WebhookConfigurations,
} from './manifests.js';
