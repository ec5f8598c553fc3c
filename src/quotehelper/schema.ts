/**
 * proto/aesm.proto loaded with protobufjs, plus typed views of the messages
 * this component reads and writes. Field names keep the .proto spelling
 * (`b_pub_key_id`, `errorCode`).
 *
 * Two copies of the schema are loaded:
 * - strict, for encoding: proto2 `required` fields (errorCode) are always
 *   written, 0 included;
 * - lenient (every field optional), for decoding: a request missing a
 *   required field must still be recognised so it can be answered the way
 *   aesmd answers it (errorCode 1), and a reply missing errorCode reads as
 *   the schema default 1, as in Intel's C++ client.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { KubeSgxError } from '../errors.js';

// ---- typed views ---------------------------------------------------------

export interface InitQuoteExRequest { att_key_id?: Buffer; b_pub_key_id?: boolean; buf_size?: number; timeout?: number }
export interface SelectAttKeyIDRequest { att_key_id_list?: Buffer; timeout?: number }
export interface GetQuoteSizeExRequest { att_key_id?: Buffer; timeout?: number }
export interface GetQuoteExRequest { report?: Buffer; att_key_id?: Buffer; qe_report_info?: Buffer; buf_size?: number; timeout?: number }
export interface GetSupportedAttKeyIDNumRequest { timeout?: number }
export interface GetSupportedAttKeyIDsRequest { buf_size?: number; timeout?: number }
/** Legacy requests are only recognised, never read: any fields. */
export type LegacyRequest = Record<string, unknown> & { timeout?: number };

export interface AesmRequest {
  initQuoteReq?: LegacyRequest;
  getQuoteReq?: LegacyRequest;
  getLicTokenReq?: LegacyRequest;
  reportErrReq?: LegacyRequest;
  getWhiteListSizeReq?: LegacyRequest;
  getWhiteListReq?: LegacyRequest;
  sgxGetExtendedEpidGroupIdReq?: LegacyRequest;
  sgxSwitchExtendedEpidGroupReq?: LegacyRequest;
  sgxRegisterReq?: LegacyRequest;
  initQuoteExReq?: InitQuoteExRequest;
  getQuoteSizeExReq?: GetQuoteSizeExRequest;
  getQuoteExReq?: GetQuoteExRequest;
  checkUpdateStatusReq?: LegacyRequest;
  selectAttKeyIDReq?: SelectAttKeyIDRequest;
  getSupportedAttKeyIDNumReq?: GetSupportedAttKeyIDNumRequest;
  getSupportedAttKeyIDsReq?: GetSupportedAttKeyIDsRequest;
}

export type AesmRequestKind = keyof AesmRequest;

export interface ErrorOnly { errorCode: number }
export interface InitQuoteExResponse extends ErrorOnly { target_info?: Buffer; pub_key_id_size?: number; pub_key_id?: Buffer }
export interface SelectAttKeyIDResponse extends ErrorOnly { selected_att_key_id?: Buffer }
export interface GetQuoteSizeExResponse extends ErrorOnly { quote_size?: number }
export interface GetQuoteExResponse extends ErrorOnly { quote?: Buffer; qe_report_info?: Buffer }
export interface GetSupportedAttKeyIDNumResponse extends ErrorOnly { att_key_id_num?: number }
export interface GetSupportedAttKeyIDsResponse extends ErrorOnly { att_key_ids?: Buffer }

export interface AesmResponse {
  initQuoteRes?: ErrorOnly;
  getQuoteRes?: ErrorOnly;
  getLicTokenRes?: ErrorOnly;
  reportErrRes?: ErrorOnly;
  getWhiteListSizeRes?: ErrorOnly;
  getWhiteListRes?: ErrorOnly;
  sgxGetExtendedEpidGroupIdRes?: ErrorOnly;
  sgxSwitchExtendedEpidGroupRes?: ErrorOnly;
  sgxRegisterRes?: ErrorOnly;
  initQuoteExRes?: InitQuoteExResponse;
  getQuoteSizeExRes?: GetQuoteSizeExResponse;
  getQuoteExRes?: GetQuoteExResponse;
  checkUpdateStatusRes?: ErrorOnly;
  selectAttKeyIDRes?: SelectAttKeyIDResponse;
  unsupportedRequestResponse?: ErrorOnly;
  getSupportedAttKeyIDNumRes?: GetSupportedAttKeyIDNumResponse;
  getSupportedAttKeyIDsRes?: GetSupportedAttKeyIDsResponse;
}

/**
 * The order in which aesmd's ProtobufSerializer::inflateRequest looks for an
 * inner request; the first present one is served.
 */
export const REQUEST_ORDER: readonly AesmRequestKind[] = [
  'getLicTokenReq', 'initQuoteReq', 'getQuoteReq', 'reportErrReq', 'checkUpdateStatusReq',
  'getWhiteListSizeReq', 'getWhiteListReq', 'sgxGetExtendedEpidGroupIdReq', 'sgxSwitchExtendedEpidGroupReq',
  'sgxRegisterReq', 'initQuoteExReq', 'getQuoteSizeExReq', 'getQuoteExReq', 'selectAttKeyIDReq',
  'getSupportedAttKeyIDNumReq', 'getSupportedAttKeyIDsReq',
];

/** The response field that answers each request field. */
export const RESPONSE_FOR: Readonly<Record<AesmRequestKind, keyof AesmResponse>> = {
  initQuoteReq: 'initQuoteRes',
  getQuoteReq: 'getQuoteRes',
  getLicTokenReq: 'getLicTokenRes',
  reportErrReq: 'reportErrRes',
  getWhiteListSizeReq: 'getWhiteListSizeRes',
  getWhiteListReq: 'getWhiteListRes',
  sgxGetExtendedEpidGroupIdReq: 'sgxGetExtendedEpidGroupIdRes',
  sgxSwitchExtendedEpidGroupReq: 'sgxSwitchExtendedEpidGroupRes',
  sgxRegisterReq: 'sgxRegisterRes',
  initQuoteExReq: 'initQuoteExRes',
  getQuoteSizeExReq: 'getQuoteSizeExRes',
  getQuoteExReq: 'getQuoteExRes',
  checkUpdateStatusReq: 'checkUpdateStatusRes',
  selectAttKeyIDReq: 'selectAttKeyIDRes',
  getSupportedAttKeyIDNumReq: 'getSupportedAttKeyIDNumRes',
  getSupportedAttKeyIDsReq: 'getSupportedAttKeyIDsRes',
};

// ---- schema loading --------------------------------------------------------

/** Finds proto/aesm.proto above this module (src/… from source, dist/src/… when built). */
export function aesmProtoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'aesm.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new KubeSgxError('QUOTE_HELPER_SCHEMA_MISSING', 'proto/aesm.proto not found above ' + dirname(fileURLToPath(import.meta.url)));
}

interface Schema { request: protobuf.Type; response: protobuf.Type }

function loadSchema(lenient: boolean): Schema {
  let root = new protobuf.Root();
  root.loadSync(aesmProtoPath(), { keepCase: true });
  if (lenient) root = protobuf.Root.fromJSON(withoutRequired(root.toJSON()));
  root.resolveAll();
  return { request: root.lookupType('aesm.message.Request'), response: root.lookupType('aesm.message.Response') };
}

/** A copy of a protobufjs JSON descriptor with every `required` rule dropped (→ optional). */
function withoutRequired(node: unknown): protobuf.INamespace {
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk);
    if (n === null || typeof n !== 'object') return n;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(n)) {
      if (k === 'rule' && v === 'required') continue;
      out[k] = walk(v);
    }
    return out;
  };
  return walk(node) as protobuf.INamespace;
}

let strict: Schema | undefined;
let lenient: Schema | undefined;
const strictSchema = (): Schema => (strict ??= loadSchema(false));
const lenientSchema = (): Schema => (lenient ??= loadSchema(true));

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: false };

function decodeWith(type: protobuf.Type, payload: Uint8Array, what: string): Record<string, unknown> {
  try {
    const msg = type.decode(payload);
    return type.toObject(msg, TO_OBJECT);
  } catch (e) {
    throw new KubeSgxError('AESM_MALFORMED_MESSAGE', `${what} does not decode as aesm.message.${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Decodes a Request payload (no length prefix). Missing required fields are allowed here. */
export function decodeRequest(payload: Uint8Array): AesmRequest {
  return decodeWith(lenientSchema().request, payload, 'Request') as AesmRequest;
}

/** Decodes a Response payload; a missing errorCode reads as 1 (the schema default). */
export function decodeResponse(payload: Uint8Array): AesmResponse {
  const obj = decodeWith(lenientSchema().response, payload, 'Response') as Record<string, Record<string, unknown> | undefined>;
  for (const inner of Object.values(obj)) {
    if (inner && inner.errorCode === undefined) inner.errorCode = 1;
  }
  return obj as AesmResponse;
}

/** Encodes a Response with the strict schema: errorCode is always on the wire. */
export function encodeResponse(res: AesmResponse): Buffer {
  // Plain objects with numbers and Buffers encode directly (no fromObject copy).
  const type = strictSchema().response;
  const bytes = type.encode(res as Record<string, unknown>).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
}

/**
 * Encodes a Request. Only the fields present are written (lenient schema), so
 * tests and fault injection can also send requests aesmd would reject.
 */
export function encodeRequest(req: AesmRequest): Buffer {
  const type = lenientSchema().request;
  return Buffer.from(type.encode(type.fromObject(req as Record<string, unknown>)).finish());
}
