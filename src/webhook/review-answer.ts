/**
 * One review, body in, serialised answer out: what the server sends for a
 * review, whether it runs on the event loop or in the review worker
 * (review-worker.ts). Both paths call this, so their answers are the same
 * bytes.
 */
import { toKubeSgxError } from '../errors.js';
import type { WebhookConfig } from './config.js';
import { reviewAdmissionWithOutcome, type ReviewKind, type ReviewOutcome } from './review.js';
import type { ValidationContext } from './validate.js';

/** 200 with the AdmissionReview, or 400 with `{"error":{code,message,…}}`; `json` is the HTTP body. */
export type ReviewAnswer<Json = string> =
  | { ok: true; outcome: ReviewOutcome; uid: string; deniedMessage: string | undefined; json: Json }
  | { ok: false; code: string; message: string; json: Json };

export function answerReview(body: Uint8Array, config: WebhookConfig, kind: ReviewKind, ctx: ValidationContext): ReviewAnswer {
  try {
    const { review, outcome } = reviewAdmissionWithOutcome(body, config, kind, ctx);
    const r = review.response;
    return { ok: true, outcome, uid: r.uid, deniedMessage: outcome === 'denied' ? r.status?.message : undefined, json: JSON.stringify(review) };
  } catch (e) {
    const err = toKubeSgxError(e, 'WEBHOOK_BAD_REVIEW');
    return { ok: false, code: err.code, message: err.message, json: JSON.stringify({ error: err.toJSON() }) };
  }
}
