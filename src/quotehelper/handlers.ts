/**
 * One decoded Request in, one Response out, with aesmd's checks and error
 * codes (quote_ex_service_bundle, ecdsa_quote_service_bundle,
 * AESMLogicWrapper in intel/linux-sgx). No I/O here besides the backend.
 */
import { KubeSgxError } from '../errors.js';
import { AesmError, aesmErrorOf } from './aesm-errors.js';
import {
  type QuoteBackend, PUB_KEY_ID_SIZE, QE_REPORT_INFO_NONCE_SIZE, QE_REPORT_INFO_QE_REPORT_OFFSET,
  QE_REPORT_INFO_SIZE, REPORT_SIZE, TARGET_INFO_SIZE,
} from './backend.js';
import {
  ALG_ECDSA_P256, ATT_KEY_ID_SIZE, INTEL_ECDSA_ATT_KEY_ID, attKeyIdAlgorithm, decodeAttKeyIdList, sameAttKeyIdBase,
} from './keyid.js';
import { type AesmRequest, type AesmRequestKind, type AesmResponse, REQUEST_ORDER, RESPONSE_FOR } from './schema.js';

export interface HandlerOptions {
  backend: QuoteBackend;
  /** Quotes are zero-padded to buf_size up to this many bytes (aesmd always pads; this caps a hostile buf_size). */
  maxReplyPadBytes: number;
}

export interface HandlerResult {
  kind: AesmRequestKind;
  errorCode: number;
  response: AesmResponse;
  /** True when a quote was produced. */
  quoted: boolean;
  /** The backend error behind a non-zero errorCode, for logs. */
  error?: KubeSgxError;
}

const LEGACY_KINDS: ReadonlySet<AesmRequestKind> = new Set<AesmRequestKind>([
  'initQuoteReq', 'getQuoteReq', 'getLicTokenReq', 'reportErrReq', 'checkUpdateStatusReq', 'getWhiteListSizeReq',
  'getWhiteListReq', 'sgxGetExtendedEpidGroupIdReq', 'sgxSwitchExtendedEpidGroupReq', 'sgxRegisterReq',
]);

/** The inner request aesmd would serve: the first present in its fixed order. */
export function requestKind(req: AesmRequest): AesmRequestKind | undefined {
  return REQUEST_ORDER.find((k) => req[k] !== undefined && req[k] !== null);
}

/** The advisory `timeout` of the served inner request, if any. */
export function requestTimeout(req: AesmRequest, kind: AesmRequestKind): number | undefined {
  const t = (req[kind] as { timeout?: unknown } | undefined)?.timeout;
  return typeof t === 'number' && t > 0 ? t : undefined;
}

function keyIdsOf(backend: QuoteBackend): Buffer[] {
  const extra = (backend.extraKeyIds ?? []).filter((id) => !sameAttKeyIdBase(id, INTEL_ECDSA_ATT_KEY_ID));
  return [INTEL_ECDSA_ATT_KEY_ID, ...extra];
}

/** aesmd's ID check for 15/16/17: absent or short → 3, unknown base → 38, else 0. */
function checkKeyId(id: Buffer | undefined, accepted: readonly Buffer[]): number {
  if (id === undefined || id.length < ATT_KEY_ID_SIZE) return AesmError.PARAMETER_ERROR;
  return accepted.some((a) => sameAttKeyIdBase(a, id)) ? AesmError.SUCCESS : AesmError.UNSUPPORTED_ATT_KEY_ID;
}

type Reply = Omit<HandlerResult, 'kind' | 'response'> & { body: Record<string, unknown> };
const fail = (errorCode: number, error?: KubeSgxError): Reply => ({ errorCode, quoted: false, body: {}, error });
const ok = (body: Record<string, unknown>, quoted = false): Reply => ({ errorCode: 0, quoted, body });

/** Answers one request. Returns undefined when no inner request is present (aesmd closes without a reply). */
export async function handleRequest(req: AesmRequest, opts: HandlerOptions): Promise<HandlerResult | undefined> {
  const kind = requestKind(req);
  if (kind === undefined) return undefined;
  let reply: Reply;
  try {
    reply = await dispatch(kind, req, opts);
  } catch (e) {
    const err = e instanceof KubeSgxError ? e : new KubeSgxError('QUOTE_BACKEND_FAILED', e instanceof Error ? e.message : String(e), { cause: e });
    reply = fail(aesmErrorOf(err), err);
  }
  const response: AesmResponse = { [RESPONSE_FOR[kind]]: { errorCode: reply.errorCode, ...reply.body } };
  if (LEGACY_KINDS.has(kind)) response.unsupportedRequestResponse = { errorCode: reply.errorCode };
  return { kind, errorCode: reply.errorCode, response, quoted: reply.quoted, error: reply.error };
}

async function dispatch(kind: AesmRequestKind, req: AesmRequest, opts: HandlerOptions): Promise<Reply> {
  const { backend } = opts;
  const accepted = keyIdsOf(backend);
  switch (kind) {
    case 'getSupportedAttKeyIDNumReq':
      return ok({ att_key_id_num: 1 });

    case 'getSupportedAttKeyIDsReq': {
      const size = req.getSupportedAttKeyIDsReq?.buf_size;
      if (size === undefined) return fail(AesmError.UNEXPECTED_ERROR); // fails IsInitialized()
      if (size !== ATT_KEY_ID_SIZE) return fail(AesmError.PARAMETER_ERROR); // must be count × 256, count = 1
      return ok({ att_key_ids: Buffer.from(INTEL_ECDSA_ATT_KEY_ID) });
    }

    case 'selectAttKeyIDReq': {
      const list = req.selectAttKeyIDReq?.att_key_id_list;
      if (list === undefined) return ok({ selected_att_key_id: Buffer.from(INTEL_ECDSA_ATT_KEY_ID) });
      const ids = decodeAttKeyIdList(list);
      if (ids === undefined) return fail(AesmError.PARAMETER_ERROR);
      const matched = ids.filter((id) => accepted.some((a) => sameAttKeyIdBase(a, id)));
      if (matched.length === 0) return fail(AesmError.UNSUPPORTED_ATT_KEY_ID);
      const chosen = matched.find((id) => attKeyIdAlgorithm(id) === ALG_ECDSA_P256) ?? matched[0];
      return ok({ selected_att_key_id: Buffer.from(chosen) });
    }

    case 'initQuoteExReq': {
      const r = req.initQuoteExReq ?? {};
      if (r.b_pub_key_id === undefined) return fail(AesmError.UNEXPECTED_ERROR);
      const keyCheck = checkKeyId(r.att_key_id, accepted);
      if (keyCheck !== 0) return fail(keyCheck);
      // buf_size is only meaningful when the pub key ID is asked for (Intel's
      // client sends stack garbage otherwise).
      if (r.b_pub_key_id && (r.buf_size ?? 0) < PUB_KEY_ID_SIZE) return fail(AesmError.PARAMETER_ERROR);
      const targetInfo = await backend.targetInfo();
      if (targetInfo.length !== TARGET_INFO_SIZE) {
        throw new KubeSgxError('QUOTE_BACKEND_BAD_TARGET_INFO', `backend ${backend.name} returned ${targetInfo.length}-byte target info`, { details: { aesmError: AesmError.UNEXPECTED_ERROR } });
      }
      const body: Record<string, unknown> = { target_info: targetInfo, pub_key_id_size: PUB_KEY_ID_SIZE };
      if (r.b_pub_key_id) {
        const pub = await backend.pubKeyId();
        if (pub !== undefined) body.pub_key_id = pub;
      }
      return ok(body);
    }

    case 'getQuoteSizeExReq': {
      const keyCheck = checkKeyId(req.getQuoteSizeExReq?.att_key_id, accepted);
      if (keyCheck !== 0) return fail(keyCheck);
      return ok({ quote_size: await backend.quoteSize() });
    }

    case 'getQuoteExReq': {
      const r = req.getQuoteExReq ?? {};
      if (r.report === undefined || r.buf_size === undefined) return fail(AesmError.UNEXPECTED_ERROR);
      const keyCheck = checkKeyId(r.att_key_id, accepted);
      if (keyCheck !== 0) return fail(keyCheck);
      if (r.report.length !== REPORT_SIZE) return fail(AesmError.PARAMETER_ERROR);
      const qri = r.qe_report_info;
      if (qri !== undefined && qri.length !== QE_REPORT_INFO_SIZE) return fail(AesmError.PARAMETER_ERROR);
      const result = await backend.getQuote(
        r.report,
        qri === undefined ? undefined : {
          nonce: qri.subarray(0, QE_REPORT_INFO_NONCE_SIZE),
          appTargetInfo: qri.subarray(QE_REPORT_INFO_NONCE_SIZE, QE_REPORT_INFO_NONCE_SIZE + TARGET_INFO_SIZE),
        },
      );
      if (result.quote.length > r.buf_size) return fail(AesmError.PARAMETER_ERROR);
      const body: Record<string, unknown> = { quote: pad(result.quote, r.buf_size, opts.maxReplyPadBytes) };
      if (qri !== undefined) {
        if (result.qeReport?.length !== REPORT_SIZE) return fail(AesmError.UNABLE_TO_GENERATE_QE_REPORT);
        const out = Buffer.from(qri);
        result.qeReport.copy(out, QE_REPORT_INFO_QE_REPORT_OFFSET);
        body.qe_report_info = out;
      }
      return ok(body, true);
    }

    default:
      // Known legacy (EPID, launch token, platform services) request: answered
      // the way aesmd answers it when those bundles are absent.
      return fail(AesmError.SERVICE_UNAVAILABLE);
  }
}

/** aesmd returns a buf_size buffer; we pad up to a cap (clients accept shorter). */
function pad(quote: Buffer, bufSize: number, cap: number): Buffer {
  const size = Math.min(bufSize, Math.max(cap, quote.length));
  if (size === quote.length) return quote;
  const out = Buffer.alloc(size);
  quote.copy(out);
  return out;
}
