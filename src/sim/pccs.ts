/**
 * A local PCCS for a simulated platform: Intel's PCS / PCCS v4 paths and
 * headers (reference dcap.md §4.1–4.2), so the verifier's HTTP collateral
 * providers can be pointed at it.
 *
 *   GET /sgx/certification/v4/tcb?fmspc=…        {"tcbInfo":…,"signature":…}   TCB-Info-Issuer-Chain
 *   GET /sgx/certification/v4/qe/identity        {"enclaveIdentity":…,…}       SGX-Enclave-Identity-Issuer-Chain
 *   GET /sgx/certification/v4/pckcrl?ca=processor[&encoding=der|pem]
 *                                                hex of DER (PCCS default), DER or PEM   SGX-PCK-CRL-Issuer-Chain
 *   GET /sgx/certification/v4/rootcacrl          hex of DER (PCCS)
 *   GET /IntelSGXRootCA.der                      DER: the root-issued certificates' CRL Distribution Point
 *   GET /sgx/certification/v4/pckcert?…          PEM leaf   SGX-PCK-Certificate-Issuer-Chain, SGX-TCBm,
 *                                                SGX-FMSPC, SGX-PCK-Certificate-CA-Type
 *
 * Issuer chains are URL-encoded PEM, as PCS sends them. Plain HTTP: it is a
 * local development server (put TLS in front when it must cross a network).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KubeSgxError } from '../errors.js';
import { z } from 'zod';
import { listen, type Listening } from '../ops/listen.js';
import { hostPortOption, parseOptions } from '../ops/options.js';
import { SIM_CPU_SVN, SIM_PCK_TCB } from './identity.js';
import type { SimPlatform } from './platform.js';
import { SIM_CRL_PATHS } from './pki.js';

export const SIM_PCCS_DEFAULTS = { listen: '127.0.0.1:8081' } as const;

/** `kube-sgx sim pccs` and startSimPccs(): one schema for the data options. */
export const simPccsOptionsSchema = z
  .object({
    /** HOST:PORT (port 0 picks a free one). */
    listen: hostPortOption(z).default(SIM_PCCS_DEFAULTS.listen),
  })
  .strict();

export type SimPccsSettings = z.output<typeof simPccsOptionsSchema>;

/** Validates and defaults; SIM_BAD_ARGUMENT names the flag at fault. */
export function parseSimPccsOptions(input: unknown): SimPccsSettings {
  return parseOptions(simPccsOptionsSchema, input ?? {}, 'SIM_BAD_ARGUMENT', { listen: '--listen' });
}

export interface SimPccsOptions extends z.input<typeof simPccsOptionsSchema> {
  /** The platform whose collateral is served. */
  platform: SimPlatform;
}

export interface SimPccs {
  url: string;
  close(): Promise<void>;
}

const V4 = '/sgx/certification/v4';

type Reply = { status: number; headers?: Record<string, string>; body?: string | Buffer; type?: string };

const chainHeader = (pem: string) => encodeURIComponent(pem);

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

function crlPem(der: Buffer): string {
  return `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END X509 CRL-----\n`;
}

function route(platform: SimPlatform, path: string, q: URLSearchParams): Reply {
  const c = platform.collateral();
  switch (path) {
    case `${V4}/tcb`: {
      const fmspc = q.get('fmspc');
      if (!fmspc || !/^[0-9a-fA-F]{12}$/.test(fmspc)) return { status: 400, body: 'fmspc: expected 12 hex characters\n' };
      if (fmspc.toUpperCase() !== platform.fmspc) return { status: 404, body: `no TCB info for FMSPC ${fmspc}\n` };
      return {
        status: 200,
        type: 'application/json',
        headers: { 'TCB-Info-Issuer-Chain': chainHeader(c.tcb_info_issuer_chain) },
        body: `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`,
      };
    }
    case `${V4}/qe/identity`:
      return {
        status: 200,
        type: 'application/json',
        headers: { 'SGX-Enclave-Identity-Issuer-Chain': chainHeader(c.qe_identity_issuer_chain) },
        body: `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`,
      };
    case `${V4}/pckcrl`: {
      const ca = q.get('ca');
      if (ca !== 'processor' && ca !== 'platform') return { status: 400, body: 'ca: expected processor or platform\n' };
      if (ca === 'platform') return { status: 404, body: 'this simulated platform has no PCK Platform CA\n' };
      const headers = { 'SGX-PCK-CRL-Issuer-Chain': chainHeader(c.pck_crl_issuer_chain) };
      const der = Buffer.from(c.pck_crl, 'hex');
      const encoding = q.get('encoding');
      if (encoding === 'der') return { status: 200, type: 'application/pkix-crl', headers, body: der };
      if (encoding === 'pem') return { status: 200, type: 'application/x-pem-file', headers, body: crlPem(der) };
      if (encoding !== null) return { status: 400, body: 'encoding: expected der or pem\n' };
      return { status: 200, type: 'text/plain', headers, body: c.pck_crl };
    }
    case `${V4}/rootcacrl`:
      return { status: 200, type: 'text/plain', body: c.root_ca_crl };
    case SIM_CRL_PATHS.rootCa:
      return { status: 200, type: 'application/pkix-crl', body: Buffer.from(c.root_ca_crl, 'hex') };
    case `${V4}/pckcert`: {
      const blocks = pemBlocks(c.pck_crl_issuer_chain);
      const pcesvn = Buffer.alloc(2);
      pcesvn.writeUInt16LE(SIM_PCK_TCB.pcesvn);
      return {
        status: 200,
        type: 'application/x-pem-file',
        headers: {
          'SGX-PCK-Certificate-Issuer-Chain': chainHeader(blocks.join('')),
          'SGX-TCBm': (SIM_CPU_SVN.toString('hex') + pcesvn.toString('hex')).toUpperCase(),
          'SGX-FMSPC': platform.fmspc,
          'SGX-PCK-Certificate-CA-Type': 'processor',
        },
        body: platform.pckCertificatePem(),
      };
    }
    default:
      return { status: 404, body: 'not found\n' };
  }
}

function send(res: ServerResponse, r: Reply, head: boolean): void {
  const body = r.body === undefined ? Buffer.alloc(0) : typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, {
    'Content-Type': r.type ?? 'text/plain',
    'Content-Length': String(body.length),
    'Request-ID': randomBytes(16).toString('hex'),
    ...(r.headers ?? {}),
  });
  res.end(head ? undefined : body);
}

/** Starts the simulated PCCS; `url` is its base (e.g. http://127.0.0.1:8081). */
export async function startSimPccs(input: SimPccsOptions): Promise<SimPccs> {
  const { platform, ...data } = input;
  const opts = parseSimPccsOptions(data);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return send(res, { status: 405, headers: { Allow: 'GET, HEAD' }, body: 'method not allowed\n' }, false);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://pccs.invalid');
    } catch {
      return send(res, { status: 400, body: 'bad request\n' }, head);
    }
    platform
      .refreshCollateral()
      .then(() => send(res, route(platform, url.pathname, url.searchParams), head))
      .catch((e: unknown) => send(res, { status: 500, body: `${e instanceof Error ? e.message : String(e)}\n` }, head));
  };
  let listening: Listening;
  try {
    listening = await listen({ address: opts.listen, flag: '--listen', handler, keepAliveTimeoutMs: 5_000 });
  } catch (e) {
    throw new KubeSgxError('SIM_PCCS_LISTEN_FAILED', `cannot listen on ${opts.listen}: ${(e as Error).message}`, { cause: e });
  }
  return { url: listening.url, close: listening.close };
}
