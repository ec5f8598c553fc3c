/**
 * kube-sgx admission webhook: pod mutation and validation for SGX workloads,
 * the HTTPS server, certificates and webhook manifests, and `kube-sgx doctor`.
 * See docs/webhook.md.
 */
export {
  EPC_RESOURCE,
  LEGACY_EPC_RESOURCE,
  ENCLAVE_RESOURCE,
  PROVISION_RESOURCE,
  QUOTE_PROVIDER_ANNOTATION,
  webhookConfigSchema,
  parseWebhookConfig,
  loadWebhookConfigFile,
  defaultWebhookConfig,
  type WebhookConfig,
  type WebhookConfigInput,
} from './config.js';
export {
  parseQuantity,
  parseIntegerQuantity,
  quantityToInteger,
  formatBinarySI,
  type Quantity,
} from './quantity.js';
export { readPod, analyzePod, type Pod, type PodProblem, type PodSgx, type ContainerSgx } from './pod.js';
export { mutatePod, escapeJsonPointer, jsonPointer, toleratesTaint, type JsonPatchOp } from './mutate.js';
export { validatePod, configuredMaxEpcBytes, type PodValidation, type ValidationContext } from './validate.js';
export {
  reviewAdmission,
  parseAdmissionReview,
  type ReviewKind,
  type AdmissionResponse,
  type AdmissionReviewResponse,
} from './review.js';
