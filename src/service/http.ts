/**
 * HTTP plumbing shared by the service's sub-apps (routes/*): the hono Env,
 * body reading with the size cap, the admin bearer-token middleware and the
 * one error renderer. Every failure is a KubeSgxError (hono's own
 * HTTPException is translated to one) rendered by `renderError` as RFC 7807
 * problem+json with MAA's `error: {code, message}` alongside.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import { KubeSgxError, toKubeSgxError } from '../errors.js';
import { discardRequestBody } from '../ops/drain.js';
import type { ServiceErrorCode } from './error-codes.js';
import { checkApiVersion } from './attest.js';
import { parseJsonBounded } from './encoding.js';
import { toKbsError } from './kbs.js';
import { toProblem } from './problems.js';

/**
 * Largest request body, in bytes. Clients send far less (an SGX quote is ~5 KiB, a TD quote ~8 KiB, runtime data a
 * JWK); what costs the event loop is the JSON inside (encoding.ts bounds it), and at 1 MiB an accepted body of it
 * took up to ~140 ms of one turn (docs/attestation-service.md, "Bounded cost").
 */
export const MAX_BODY_BYTES = 512 * 1024;

/** Node's request and response, as @hono/node-server passes them (absent for in-process `app.request`). */
export type Env = { Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } };

export function clientOf(c: Context<Env>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? 'local';
}

export function tooLarge(): KubeSgxError {
  return new KubeSgxError('PAYLOAD_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes (${MAX_BODY_BYTES / 1024} KiB)`);
}

/**
 * When the answer is ready but part of the request body is still to arrive
 * unread (a refusal before reading it, or a route that takes no body):
 * discard the rest, so the client still sending reads the answer instead of
 * a reset, and at most MAX_DRAIN_BYTES of it (ops/drain.ts). Left to Node,
 * an unread body is read to its end, however long.
 */
export function discardUnreadBody(c: Context<Env>): void {
  const incoming = c.env?.incoming;
  const outgoing = c.env?.outgoing;
  if (incoming && outgoing && !incoming.complete && incoming.readableFlowing === null) discardRequestBody(incoming, outgoing);
}

/**
 * The body as text, capped at MAX_BODY_BYTES whether or not it came with a
 * Content-Length. Under @hono/node-server it is read straight from Node's
 * request stream: touching `c.req.raw.body` (as hono's bodyLimit does) makes
 * the adapter build a full Web Request with an AbortSignal per request, whose
 * weak references outlive young-generation GCs; at 500 attestations/s that
 * promoted 13 KB per request to the old generation and made scavenges slow.
 * Over the cap, the rest of the body is discarded while the 413 is sent.
 */
export async function readText(c: Context<Env>): Promise<string> {
  const incoming = c.env?.incoming;
  const outgoing = c.env?.outgoing;
  if (!incoming || !outgoing || incoming.readableEnded) {
    // In-process (app.request): the body is already in memory.
    const text = await c.req.text();
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw tooLarge();
    return text;
  }
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onClosed);
      incoming.off('close', onClosed);
    };
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      stop();
      discardRequestBody(incoming!, outgoing!);
      reject(tooLarge());
    }
    function onEnd() {
      stop();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    }
    // Node ends the stream with "aborted" (ECONNRESET), or just closes it, when the client goes mid-body: its doing, not ours.
    function onClosed(e?: Error) {
      stop();
      reject(new KubeSgxError('CLIENT_CLOSED_REQUEST', `the client closed the connection after ${size} bytes of the request body`, e ? { cause: e } : {}));
    }
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onClosed);
    incoming.on('close', onClosed);
  });
  return body.toString('utf8');
}

export async function readJson(c: Context<Env>): Promise<unknown> {
  const body = await readOptionalJson(c);
  if (body === undefined) throw new KubeSgxError('INVALID_JSON', 'the request body is empty (expected JSON)');
  return body;
}

/** The JSON body, or undefined when the body is empty (endpoints whose body is optional). */
export async function readOptionalJson(c: Context<Env>): Promise<unknown> {
  const text = await readText(c);
  if (text.trim() === '') return undefined;
  return parseJsonBounded(text, 'the request body');
}

/**
 * The percent-decoded rest of the path after `prefix` (a secret or resource
 * name). hono leaves `%2F` and `%25` encoded in `c.req.path`, so one decode
 * here gives the name as the client wrote it; malformed escapes (`%ZZ`, a
 * lone `%`, invalid or overlong UTF-8 such as `%C0%AF`) are the client's error.
 */
export function pathRest(c: Context<Env>, prefix: string): string {
  const raw = c.req.path.slice(prefix.length);
  try {
    return decodeURIComponent(raw);
  } catch (e) {
    throw new KubeSgxError('INVALID_REQUEST', `the path after ${prefix} is not valid percent-encoded UTF-8`, { path: ['name'], cause: e });
  }
}

/**
 * RFC 7807 problem+json, unless the client accepts only plain JSON (the
 * Azure SDK sends `Accept: application/json` and parses only that type):
 * then the same document as application/json, so MAA clients see our code.
 */
function problemMediaType(accept: string | undefined): string {
  if (!accept || /application\/problem\+json|\*\/\*/.test(accept)) return 'application/problem+json';
  return /application\/json/.test(accept) ? 'application/json' : 'application/problem+json';
}

export function problemResponse(c: Context<Env>, err: KubeSgxError, extraHeaders: Record<string, string> = {}): Response {
  const doc = toProblem(err);
  return c.body(JSON.stringify(doc), doc.status as 400, { 'content-type': problemMediaType(c.req.header('accept')), ...extraHeaders });
}

const HTTP_EXCEPTION_CODES: Record<number, ServiceErrorCode> = {
  400: 'INVALID_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'RATE_LIMITED',
};

/** Anything thrown, as the service's one error type. */
export function asServiceError(e: unknown): KubeSgxError {
  if (e instanceof HTTPException) return new KubeSgxError(HTTP_EXCEPTION_CODES[e.status] ?? 'INTERNAL', e.message || `HTTP ${e.status}`, { cause: e });
  return toKubeSgxError(e);
}

/**
 * The app's one error renderer: every failure becomes a problem document
 * here — RFC 7807 problem+json, or on /kbs/v0/* the shape and statuses of
 * Trustee's KBS (kbs.ts toKbsError), which its clients act on.
 */
export function renderServiceError(c: Context<Env>, err: KubeSgxError): Response {
  const headers: Record<string, string> = {};
  if (err.code === 'RATE_LIMITED' && typeof err.details?.retryAfter === 'number') headers['retry-after'] = String(err.details.retryAfter);
  if (c.req.path.startsWith('/kbs/v0/')) {
    const { status, doc } = toKbsError(err, c.req.path);
    return c.body(JSON.stringify(doc), status as 401, { 'content-type': 'application/json', ...headers });
  }
  if (err.code === 'UNAUTHORIZED' || err.code === 'TOKEN_INVALID') headers['www-authenticate'] = 'Bearer';
  return problemResponse(c, err, headers);
}

export function renderError(logger: Logger): ErrorHandler<Env> {
  return (e, c) => {
    const err = asServiceError(e);
    if (err.code === 'INTERNAL') logger.error({ err: { message: err.message, stack: (e as Error).stack }, path: c.req.path }, 'internal error');
    return renderServiceError(c, err);
  };
}

/** `Authorization: Bearer <token>` → the token, or undefined. */
export function bearerToken(c: Context<Env>): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
}

/**
 * Admin bearer-token check as middleware. The token is compared by SHA-256
 * digest in constant time; a wrong token is logged (never the token) at most
 * once a second. No configured token = every admin request refused.
 */
export function adminAuth(adminToken: string | undefined, logger: Logger, now: () => number): MiddlewareHandler<Env> {
  const adminDigest = adminToken ? createHash('sha256').update(adminToken).digest() : undefined;
  let attemptLogged = 0;
  return async (c, next) => {
    const token = bearerToken(c);
    if (!adminDigest) throw new KubeSgxError('UNAUTHORIZED', 'the admin API is disabled: start the service with --admin-token-file');
    if (token === undefined) throw new KubeSgxError('UNAUTHORIZED', 'admin endpoints need "Authorization: Bearer <admin token>"');
    const given = createHash('sha256').update(token).digest();
    if (!timingSafeEqual(given, adminDigest)) {
      if (now() - attemptLogged > 1000) {
        attemptLogged = now();
        logger.warn({ client: clientOf(c), path: c.req.path }, 'admin request with a wrong bearer token');
      }
      throw new KubeSgxError('UNAUTHORIZED', 'the admin bearer token is not valid');
    }
    await next();
  };
}

/** MAA's `api-version` query parameter, required and one of API_VERSIONS. */
export const requireApiVersion: MiddlewareHandler<Env> = async (c, next) => {
  checkApiVersion(c.req.query('api-version'));
  await next();
};

/**
 * The Node adapter's refusal of a request it cannot make a URL of (a target
 * of `*` or with a backslash, a Host header that is not a host): a problem
 * document like every other 400, instead of the adapter's bare 400.
 */
export function adapterErrorResponse(e: unknown): Response {
  const err = e instanceof Error && e.name === 'RequestError' ? new KubeSgxError('INVALID_REQUEST', `the request target or Host header does not form a URL: ${e.message}`, { cause: e }) : toKubeSgxError(e);
  const doc = toProblem(err);
  return new Response(JSON.stringify(doc), { status: doc.status, headers: { 'content-type': 'application/problem+json' } });
}
