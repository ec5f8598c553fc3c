/**
 * A tiny HTTP(S) GET for the collateral providers: node:http/https so a PCCS
 * with a self-signed certificate can be allowed explicitly, with a timeout and
 * a body-size cap. Non-2xx answers and transport failures become
 * COLLATERAL_FETCH_FAILED naming the URL.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubeSgxError } from '../errors.js';

export interface HttpGetOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxBytes?: number;
  /** https only: accept a self-signed server certificate (PCCS default installs) */
  insecureTls?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function httpGet(url: string, opts: HttpGetOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const fail = (msg: string, cause?: unknown) =>
      reject(new KubeSgxError('COLLATERAL_FETCH_FAILED', `GET ${url}: ${msg}`, { ...(cause !== undefined ? { cause } : {}), details: { url } }));
    const options = { method: 'GET', headers: opts.headers ?? {}, timeout: opts.timeoutMs ?? 15_000 };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { ...options, rejectUnauthorized: !opts.insecureTls })
        : u.protocol === 'http:'
          ? httpRequest(u, options)
          : undefined;
    if (!req) return fail(`unsupported protocol ${u.protocol}`);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => fail(e.message, e));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          req.destroy(new Error(`response larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (e) => fail(e.message, e));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks);
        if (status < 200 || status > 299) return fail(`HTTP ${status} ${body.toString('utf8').slice(0, 200)}`);
        resolve({ status, headers: res.headers, body });
      });
    });
    req.end();
  });
}

/** First present header among `names` (case-insensitive), URL-decoded as PCS encodes issuer chains. */
export function issuerChainHeader(res: HttpResponse, url: string, ...names: string[]): string {
  for (const n of names) {
    const v = res.headers[n.toLowerCase()];
    const s = Array.isArray(v) ? v[0] : v;
    if (s) {
      try {
        return decodeURIComponent(s);
      } catch (e) {
        throw new KubeSgxError('COLLATERAL_FETCH_FAILED', `GET ${url}: header ${n} is not URL-encoded PEM`, { cause: e });
      }
    }
  }
  throw new KubeSgxError('COLLATERAL_FETCH_FAILED', `GET ${url}: missing header ${names.join(' / ')}`, { details: { url } });
}
