/**
 * AdmissionReview v1 in, AdmissionReview v1 out. A review that is not one
 * (not JSON, wrong apiVersion/kind, no uid, no object where one is needed)
 * throws WEBHOOK_BAD_REVIEW, which the HTTP layer answers with 400; a pod the
 * webhook objects to is a well-formed answer with `allowed: false`.
 */
import { KubeSgxError, type ErrorPath } from '../errors.js';
import { EPC_NAMES, type WebhookConfig } from './config.js';
import { readPod } from './pod.js';
import { mutatePod, type JsonPatchOp } from './mutate.js';
import { validatePod, type ValidationContext } from './validate.js';

export type ReviewKind = 'mutate' | 'validate';

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** What the webhook decided, beside the wire response (for metrics and logs). */
export type ReviewOutcome = 'skipped' | 'allowed' | 'patched' | 'denied';

function badReview(message: string, path: ErrorPath = []): never {
  throw new KubeSgxError('WEBHOOK_BAD_REVIEW', message, { path });
}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses the body and checks the envelope; returns the request part. */
export function parseAdmissionReview(body: unknown): Record<string, unknown> & { uid: string } {
  let review = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    // A view, not Buffer.from(body): that would copy the whole body first.
    const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    try {
      review = JSON.parse(text);
    } catch (e) {
      badReview(`body is not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObj(review)) badReview('body is not an AdmissionReview object');
  if (review.apiVersion !== 'admission.k8s.io/v1') {
    badReview(`apiVersion must be admission.k8s.io/v1, got ${JSON.stringify(review.apiVersion)} (set admissionReviewVersions: [v1])`, ['apiVersion']);
  }
  if (review.kind !== 'AdmissionReview') badReview(`kind must be AdmissionReview, got ${JSON.stringify(review.kind)}`, ['kind']);
  const request = review.request;
  if (!isObj(request)) badReview('request is missing', ['request']);
  if (typeof request.uid !== 'string' || request.uid === '') badReview('request.uid is missing', ['request', 'uid']);
  const kind = request.kind;
  if (kind !== undefined) {
    if (!isObj(kind) || kind.kind !== 'Pod' || (kind.group ?? '') !== '' || kind.version !== 'v1') {
      badReview(`request.kind must be core/v1 Pod, got ${JSON.stringify(kind)}; this webhook only handles pods`, ['request', 'kind']);
    }
  }
  return request as Record<string, unknown> & { uid: string };
}

/** Tells the user (kubectl prints admission warnings) when an EPC name they wrote was renamed. */
function renameWarnings(object: Record<string, unknown>, config: WebhookConfig): string[] {
  const out: string[] = [];
  const pod = readPod(object);
  for (const list of ['initContainers', 'containers'] as const) {
    for (const c of pod.spec[list] ?? []) {
      const res = c.resources ?? {};
      for (const name of EPC_NAMES) {
        if (config.epcResourceNames.includes(name) || !(name in (res.limits ?? {}) || name in (res.requests ?? {}))) continue;
        out.push(`kube-sgx: container ${JSON.stringify(c.name)}: ${name} rewritten as ${config.epcResourceNames[0]} (what this cluster's SGX nodes advertise)`);
      }
    }
  }
  return out;
}

function envelope(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/**
 * Answers one review. `reviewJson` is the body (string/bytes) or the parsed
 * object. Throws WEBHOOK_BAD_REVIEW for input that is not a pod review.
 */
export function reviewAdmission(
  reviewJson: unknown,
  config: WebhookConfig,
  kind: ReviewKind,
  ctx: ValidationContext = {},
): AdmissionReviewResponse {
  return reviewAdmissionWithOutcome(reviewJson, config, kind, ctx).review;
}

export function reviewAdmissionWithOutcome(
  reviewJson: unknown,
  config: WebhookConfig,
  kind: ReviewKind,
  ctx: ValidationContext = {},
): { review: AdmissionReviewResponse; outcome: ReviewOutcome } {
  const request = parseAdmissionReview(reviewJson);
  const uid = request.uid;
  const operation = request.operation;
  // Only pod creation is mutated or checked: resources and affinity are immutable afterwards.
  if (operation !== undefined && operation !== 'CREATE') return { review: envelope({ uid, allowed: true }), outcome: 'skipped' };
  const object = request.object;
  if (!isObj(object)) badReview('request.object is missing (CREATE carries the pod)', ['request', 'object']);
  const ns = typeof request.namespace === 'string' ? request.namespace : undefined;
  if (ns !== undefined && (ns === config.namespace || config.skipNamespaces.includes(ns))) {
    return { review: envelope({ uid, allowed: true }), outcome: 'skipped' };
  }
  try {
    if (kind === 'mutate') {
      const ops: JsonPatchOp[] = mutatePod(object, config);
      if (ops.length === 0) return { review: envelope({ uid, allowed: true }), outcome: 'allowed' };
      const patch = Buffer.from(JSON.stringify(ops)).toString('base64');
      const response: AdmissionResponse = { uid, allowed: true, patch, patchType: 'JSONPatch' };
      const warnings = renameWarnings(object, config);
      if (warnings.length > 0) response.warnings = warnings;
      return { review: envelope(response), outcome: 'patched' };
    }
    const v = validatePod(object, config, ctx);
    const response: AdmissionResponse = v.allowed
      ? { uid, allowed: true }
      : { uid, allowed: false, status: { code: 422, reason: 'Invalid', message: `kube-sgx: ${v.message}` } };
    if (v.warnings.length > 0) response.warnings = v.warnings;
    return { review: envelope(response), outcome: v.allowed ? 'allowed' : 'denied' };
  } catch (e) {
    if (e instanceof KubeSgxError && (e.code === 'WEBHOOK_POD_INVALID' || e.code === 'WEBHOOK_BAD_OBJECT')) {
      const message = `kube-sgx: ${e.message}`;
      return { review: envelope({ uid, allowed: false, status: { code: 422, reason: 'Invalid', message } }), outcome: 'denied' };
    }
    throw e;
  }
}
