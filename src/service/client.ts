/**
 * Client side of secret release, for enclaves (and the demo): runs Trustee's
 * KBS flow against an attestation service and returns the decrypted secret.
 * The quote comes from a caller-supplied function (a quote helper, the
 * simulator, real DCAP) given the 64 report-data bytes to embed.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createECDH } from 'node:crypto';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import { KBS_PROTOCOL_VERSION, KBS_SESSION_COOKIE, decryptKbsJwe, kbsReportData, sessionIdFromCookie, type KbsJwe } from './kbs.js';

export interface HttpOptions {
  /** Extra CA certificates (PEM) for an https:// service with a private CA. */
  ca?: string | string[];
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Minimal HTTP(S) call with a body and a timeout (no global fetch: custom CAs). */
export function httpCall(method: string, url: string, body: string | undefined, opts: HttpOptions = {}): Promise<HttpResult> {
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const r = req(u, { method, headers, ...(opts.ca ? { ca: opts.ca } : {}), timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`${method} ${url} timed out`)));
    r.on('error', reject);
    r.end(body);
  });
}

function parseOk(res: HttpResult, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(res.body);
  } catch {
    doc = undefined;
  }
  if (res.status !== 200 && res.status !== 201) {
    const p = (doc ?? {}) as { code?: string; detail?: string; type?: string };
    // The service's problem code (its own or a verifier's): one of ours, whatever the wire says.
    throw new KubeSgxError((p.code as ErrorCode | undefined) ?? 'SERVICE_ERROR', `${what}: HTTP ${res.status}: ${p.detail ?? res.body.slice(0, 200)}`, { details: { status: res.status, type: p.type } });
  }
  if (typeof doc !== 'object' || doc === null) throw new KubeSgxError('SERVICE_ERROR', `${what}: response is not a JSON object`);
  return doc as Record<string, unknown>;
}

export interface RequestSecretOptions extends HttpOptions {
  /** Service base URL, e.g. https://127.0.0.1:8443 */
  url: string;
  /** Secret name as registered by the admin. */
  name: string;
  /** Produces a quote whose REPORTDATA is exactly `reportData` (64 bytes). */
  getQuote: (reportData: Uint8Array) => Promise<Uint8Array>;
  /** The TEE the quote comes from: an SGX enclave (default) or a TDX trust domain. */
  tee?: 'sgx' | 'tdx';
}

export interface ReleasedSecret {
  value: Uint8Array;
  /** The KBS token the service issued for this enclave (claims readable by the caller). */
  token: string;
}

/**
 * Trustee's KBS flow (protocol 0.4.0), as guest-components' kbs_protocol
 * runs it: Request → Challenge + session cookie → Attestation with the cookie
 * → resource fetched with the cookie, decrypted with the ephemeral key.
 */
export async function requestSecret(opts: RequestSecretOptions): Promise<ReleasedSecret> {
  const base = opts.url.replace(/\/+$/, '');
  const authRes = await httpCall('POST', `${base}/kbs/v0/auth`, JSON.stringify({ version: KBS_PROTOCOL_VERSION, tee: opts.tee ?? 'sgx', 'extra-params': {} }), opts);
  const auth = parseOk(authRes, 'challenge');
  const nonce = auth.nonce;
  if (typeof nonce !== 'string') throw new KubeSgxError('SERVICE_ERROR', 'challenge: no nonce in the response');
  const setCookie = ([] as string[]).concat(authRes.headers['set-cookie'] ?? []);
  const id = setCookie.map((h) => sessionIdFromCookie(h.split(';')[0])).find((v) => v !== undefined);
  if (id === undefined) throw new KubeSgxError('SERVICE_ERROR', `challenge: no ${KBS_SESSION_COOKIE} cookie in the response`);
  const withCookie = { ...opts, headers: { ...opts.headers, cookie: `${KBS_SESSION_COOKIE}=${id}` } };

  // Ephemeral key: lives only for this request; the secret is encrypted to it.
  const ecdh = createECDH('prime256v1');
  const point = ecdh.generateKeys();
  const teePubkey = { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  const quote = await opts.getQuote(kbsReportData(nonce, teePubkey, ''));

  const attest = parseOk(
    await httpCall(
      'POST',
      `${base}/kbs/v0/attest`,
      JSON.stringify({ 'init-data': null, 'runtime-data': { nonce, 'tee-pubkey': teePubkey }, 'tee-evidence': { primary_evidence: { quote: Buffer.from(quote).toString('base64') }, additional_evidence: '' } }),
      withCookie,
    ),
    'attest',
  );
  const token = attest.token;
  if (typeof token !== 'string') throw new KubeSgxError('SERVICE_ERROR', 'attest: no token in the response');

  const res = await httpCall('GET', `${base}/kbs/v0/resource/${opts.name.split('/').map(encodeURIComponent).join('/')}`, undefined, withCookie);
  const jwe = parseOk(res, 'resource') as unknown as KbsJwe;
  return { value: new Uint8Array(decryptKbsJwe(jwe, ecdh)), token };
}
