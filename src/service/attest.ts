/**
 * The attestation pipeline: request body → verified quote → runtime/init
 * data binding → incoming claims → policy → token claims. Pure apart from
 * the verifier and policy lookups, so HTTP handlers stay thin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { decodeBase64, encodeBase64Url } from '../encoding.js';
import { parseJsonBounded } from './encoding.js';
import { evaluatePolicy, type Claim } from './policy/index.js';
import type { ActivePolicy } from './policies.js';
import { assertSgxQuote, classifyVerifierError, type AttestationVerifier, type VerifiedQuote } from './verifier.js';

export const API_VERSIONS = ['2020-10-01', '2022-08-01', '2023-04-01-preview', '2025-06-01'] as const;
/** MAA serves /attest/TdxVm from these api-versions on. */
export const TDX_API_VERSIONS = ['2023-04-01-preview', '2025-06-01'] as const;
/** MAA's fixed token lifetime. */
export const TOKEN_LIFETIME_S = 8 * 3600;

export function checkApiVersion(v: string | undefined): void {
  if (v === undefined) throw new KubeSgxError('UNSUPPORTED_API_VERSION', `the api-version query parameter is required (${API_VERSIONS.join(', ')})`, { path: ['api-version'] });
  if (!(API_VERSIONS as readonly string[]).includes(v)) {
    throw new KubeSgxError('UNSUPPORTED_API_VERSION', `api-version ${JSON.stringify(v)} is not supported (${API_VERSIONS.join(', ')})`, { path: ['api-version'] });
  }
}

export interface DataField {
  data: Uint8Array;
  dataType: 'Binary' | 'JSON';
}

export interface AttestRequest {
  quote: Uint8Array;
  runtimeData?: DataField;
  initTimeData?: DataField;
  draftPolicy?: string;
  nonce?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readDataField(v: unknown, name: string): DataField | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new KubeSgxError('INVALID_REQUEST', `${name} must be an object {data, dataType}`, { path: [name] });
  const dataType = v.dataType ?? 'Binary';
  if (dataType !== 'Binary' && dataType !== 'JSON') {
    throw new KubeSgxError('INVALID_REQUEST', `${name}.dataType must be "Binary" or "JSON"`, { path: [name, 'dataType'] });
  }
  return { data: decodeBase64(v.data, `${name}.data`), dataType };
}

/** Validates an MAA attest body (`quote` for SgxEnclave, `report` for OpenEnclave). */
export function parseAttestRequest(body: unknown, evidenceField: 'quote' | 'report'): AttestRequest {
  if (!isObject(body)) throw new KubeSgxError('INVALID_REQUEST', 'the request body must be a JSON object');
  if (body[evidenceField] === undefined) throw new KubeSgxError('INVALID_REQUEST', `${evidenceField} is required`, { path: [evidenceField] });
  let quote = decodeBase64(body[evidenceField], evidenceField);
  // An OpenEnclave report is a 16-byte OE header followed by the SGX quote.
  if (evidenceField === 'report') {
    if (quote.length < 16) throw new KubeSgxError('INVALID_QUOTE', 'report is shorter than its 16-byte OpenEnclave header', { path: ['report'] });
    quote = quote.subarray(16);
  }
  const req: AttestRequest = { quote };
  const rt = readDataField(body.runtimeData, 'runtimeData');
  if (rt) req.runtimeData = rt;
  const it = readDataField(body.initTimeData, 'initTimeData');
  if (it) req.initTimeData = it;
  if (body.draftPolicyForAttestation !== undefined && body.draftPolicyForAttestation !== null) {
    if (typeof body.draftPolicyForAttestation !== 'string') throw new KubeSgxError('INVALID_REQUEST', 'draftPolicyForAttestation must be a string', { path: ['draftPolicyForAttestation'] });
    req.draftPolicy = body.draftPolicyForAttestation;
  }
  if (body.nonce !== undefined && body.nonce !== null) {
    if (typeof body.nonce !== 'string' || body.nonce.length > 1024) throw new KubeSgxError('INVALID_REQUEST', 'nonce must be a string of at most 1024 characters', { path: ['nonce'] });
    req.nonce = body.nonce;
  }
  return req;
}

export async function verifySgxQuote(verifier: AttestationVerifier, quote: Uint8Array, simulation = false): Promise<VerifiedQuote & { enclave: NonNullable<VerifiedQuote['enclave']> }> {
  assertSgxQuote(quote);
  let r: VerifiedQuote;
  try {
    r = await verifier.verify(quote);
  } catch (e) {
    throw classifyVerifierError(e, quote, simulation);
  }
  if (r.teeType !== 'SGX' || !r.enclave) throw new KubeSgxError('UNSUPPORTED_QUOTE_TYPE', 'the quote did not verify as an SGX enclave quote', { path: ['quote'] });
  return r as VerifiedQuote & { enclave: NonNullable<VerifiedQuote['enclave']> };
}

function sha256(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest();
}

/** JSON runtime / init-time data, parsed with the service's depth bound. */
export function parseJsonData(d: DataField, name: string): unknown {
  return parseJsonBounded(Buffer.from(d.data).toString('utf8'), `${name}.data (dataType JSON)`, [name, 'data'], 'INVALID_REQUEST');
}

/**
 * MAA's binding: SHA-256 of the exact runtime data bytes must equal the
 * first 32 bytes of REPORTDATA (bytes 32..63 are not checked), and SHA-256
 * of init-time data must equal the first 32 bytes of CONFIGID.
 */
export function bindingClaims(req: AttestRequest, enclave: NonNullable<VerifiedQuote['enclave']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const reportData = Buffer.from(enclave.reportData, 'hex');
  if (req.runtimeData) {
    if (!sha256(req.runtimeData.data).equals(reportData.subarray(0, 32))) {
      throw new KubeSgxError('RUNTIME_DATA_MISMATCH', 'SHA-256 of runtimeData.data does not match the first 32 bytes of the quote\'s report data', { path: ['runtimeData', 'data'] });
    }
    if (req.runtimeData.dataType === 'JSON') out['x-ms-runtime'] = parseJsonData(req.runtimeData, 'runtimeData');
    else out['x-ms-sgx-ehd'] = encodeBase64Url(req.runtimeData.data);
  }
  if (req.initTimeData) {
    const configId = Buffer.from(enclave.configId ?? '', 'hex');
    if (configId.length < 32 || !sha256(req.initTimeData.data).equals(configId.subarray(0, 32))) {
      throw new KubeSgxError('INIT_DATA_MISMATCH', 'SHA-256 of initTimeData.data does not match the first 32 bytes of the enclave\'s CONFIGID', { path: ['initTimeData', 'data'] });
    }
    if (req.initTimeData.dataType === 'JSON') out['x-ms-inittime'] = parseJsonData(req.initTimeData, 'initTimeData');
  }
  return out;
}

/** The evidence claims: the token's x-ms-* / x-kube-sgx-* claims derived from the verified quote. */
export function evidenceClaims(r: VerifiedQuote & { enclave: NonNullable<VerifiedQuote['enclave']> }, simulated: boolean): Record<string, unknown> {
  const e = r.enclave;
  const claims: Record<string, unknown> = {
    'x-ms-attestation-type': 'sgx',
    'x-ms-ver': '1.0',
    'x-ms-sgx-is-debuggable': e.debug,
    'x-ms-sgx-mrenclave': e.mrEnclave.toLowerCase(),
    'x-ms-sgx-mrsigner': e.mrSigner.toLowerCase(),
    'x-ms-sgx-product-id': e.isvProdId,
    'x-ms-sgx-svn': e.isvSvn,
    'x-ms-sgx-report-data': e.reportData.toLowerCase(),
    'x-kube-sgx-tcb-status': r.status,
    'x-kube-sgx-advisory-ids': [...r.advisoryIds],
    'x-kube-sgx-simulated': simulated,
  };
  // KSS fields only when the enclave uses them (all-zero otherwise).
  if (e.configId && /[1-9a-f]/i.test(e.configId)) claims['x-ms-sgx-config-id'] = e.configId.toLowerCase();
  if (e.configSvn) claims['x-ms-sgx-config-svn'] = e.configSvn;
  if (e.isvExtProdId && /[1-9a-f]/i.test(e.isvExtProdId)) claims['x-ms-sgx-isv-extended-product-id'] = e.isvExtProdId.toLowerCase();
  if (e.isvFamilyId && /[1-9a-f]/i.test(e.isvFamilyId)) claims['x-ms-sgx-isv-family-id'] = e.isvFamilyId.toLowerCase();
  return claims;
}

const LEGACY: Record<string, string> = {
  'x-ms-sgx-is-debuggable': '$is-debuggable',
  'x-ms-sgx-mrsigner': '$sgx-mrsigner',
  'x-ms-sgx-mrenclave': '$sgx-mrenclave',
  'x-ms-sgx-product-id': '$product-id',
  'x-ms-sgx-svn': '$svn',
  'x-ms-attestation-type': '$tee',
};

const JSON_DATA_CLAIMS = new Set(['x-ms-runtime', 'x-ms-inittime']);

/** Incoming claim set for the policy engine (plus MAA's legacy `$` names). */
export function incomingClaims(claims: Record<string, unknown>): Claim[] {
  const out: Claim[] = [];
  const push = (type: string, v: unknown) => {
    if (typeof v === 'boolean') out.push({ type, value: v, valueType: 'Boolean', issuer: 'AttestationService' });
    else if (typeof v === 'number') out.push({ type, value: v, valueType: 'Integer', issuer: 'AttestationService' });
    else if (typeof v === 'string') out.push({ type, value: v, valueType: 'String', issuer: 'AttestationService' });
  };
  for (const [type, v] of Object.entries(claims)) {
    // JSON data (runtime and init-time) is one String claim holding its JSON text, as MAA's policy 1.2 functions (JmesPath, JsonToClaimValue) expect.
    if (JSON_DATA_CLAIMS.has(type)) push(type, JSON.stringify(v));
    else if (Array.isArray(v)) for (const x of v) push(type, x);
    else push(type, v);
    const legacy = Object.hasOwn(LEGACY, type) ? LEGACY[type] : undefined;
    if (legacy) push(legacy, v);
  }
  return out;
}

export interface IssueContext {
  issuer: string;
  now: number;
  simulated: boolean;
  policy: ActivePolicy;
  lifetimeS?: number;
}

/** Verified SGX evidence + request → the token claims, or ATTESTATION_DENIED. */
export function buildTokenClaims(
  req: AttestRequest,
  verified: VerifiedQuote & { enclave: NonNullable<VerifiedQuote['enclave']> },
  ctx: IssueContext,
): Record<string, unknown> {
  const evidence = Object.assign(evidenceClaims(verified, ctx.simulated), bindingClaims(req, verified.enclave));
  return issueTokenClaims(req, evidence, ctx, { tcbStatus: verified.status, debug: verified.enclave.debug });
}

/**
 * Evidence claims (any TEE) → policy → the token claims, or ATTESTATION_DENIED
 * (whose details carry `denial`: the TCB status and debug flag).
 */
export function issueTokenClaims(
  req: Pick<AttestRequest, 'nonce'>,
  evidence: Record<string, unknown>,
  ctx: IssueContext,
  denial: { tcbStatus: string; debug: boolean },
): Record<string, unknown> {
  const outcome = evaluatePolicy(ctx.policy.parsed, incomingClaims(evidence));
  if (!outcome.permitted) {
    throw new KubeSgxError('ATTESTATION_DENIED', `attestation policy (version ${ctx.policy.version}, hash ${ctx.policy.hash}) refused the evidence: ${outcome.reason ?? 'denied'}`, {
      details: { policyHash: ctx.policy.hash, policyVersion: ctx.policy.version, ...denial },
    });
  }
  const iat = Math.floor(ctx.now / 1000);
  // Object.assign, not `{...issued, ...evidence}`: V8 built a new hidden class
  // (in the old generation) for every such two-spread literal, about 5 KB per
  // attestation that only a full GC reclaims.
  const claims: Record<string, unknown> = Object.assign({}, outcome.issued, evidence);
  claims['x-ms-policy-hash'] = ctx.policy.hash;
  claims['x-kube-sgx-policy-version'] = ctx.policy.version;
  if (req.nonce !== undefined) claims.nonce = req.nonce;
  claims.iss = ctx.issuer;
  claims.iat = iat;
  claims.nbf = iat;
  claims.exp = iat + (ctx.lifetimeS ?? TOKEN_LIFETIME_S);
  claims.jti = randomBytes(32).toString('hex');
  return claims;
}

/** An unsecured JWT (alg none), as MAA returns for draft-policy attestations. */
export function unsignedToken(claims: Record<string, unknown>): string {
  return `${encodeBase64Url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${encodeBase64Url(JSON.stringify(claims))}.`;
}
