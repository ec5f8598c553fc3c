/**
 * The one way kube-sgx components listen for HTTP: TCP ("HOST:PORT", port 0
 * picks a free port) or a unix socket, plain or TLS, with the keep-alive,
 * request timeouts and shutdown grace each component chooses. TLS from
 * certificate files follows rotations (./tls-reload.ts); `close()` stops the
 * watcher with the server.
 */
import { chmod } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeSgxError } from '../errors.js';
import type { CertificatePair, CertificateFiles } from './tls-reload.js';

export function parseHostPort(spec: string, flag = '--metrics-addr'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new KubeSgxError('LISTEN_ADDRESS_INVALID', `${flag}: expected HOST:PORT, got ${JSON.stringify(spec)}`, { path: [flag] });
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface ListenOptions {
  /** "HOST:PORT" (port 0 picks a free port), or a unix socket path (and its file mode). */
  address: string | { path: string; mode?: number };
  /** The flag the address came from, named in a malformed-address error. */
  flag?: string;
  handler: RequestListener;
  /** HTTPS: a fixed pair, or certificate files that are watched and re-read. */
  tls?: CertificatePair | CertificateFiles;
  /** How long an idle keep-alive connection stays open (ms); default Node's 5 s. */
  keepAliveTimeoutMs?: number;
  /** Node's requestTimeout / headersTimeout (ms); default Node's. */
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** How long close() lets in-flight requests finish before cutting connections (ms); default 0: at once. */
  graceMs?: number;
}

export interface Listening {
  /** http(s)://host:port (a wildcard bind shows as localhost), or unix:PATH. */
  readonly url: string;
  readonly server: Server;
  /** Stops accepting and the certificate watcher; resolves once every connection is gone. */
  close(): Promise<void>;
}

function isCertificateFiles(tls: CertificatePair | CertificateFiles): tls is CertificateFiles {
  return 'watch' in tls;
}

export async function listen(opts: ListenOptions): Promise<Listening> {
  const where = typeof opts.address === 'string' ? parseHostPort(opts.address, opts.flag) : opts.address;
  const tls = opts.tls;
  const pair = tls === undefined ? undefined : isCertificateFiles(tls) ? tls.current : tls;
  const timeouts = {
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeout: opts.requestTimeoutMs } : {}),
    ...(opts.headersTimeoutMs !== undefined ? { headersTimeout: opts.headersTimeoutMs } : {}),
  };
  // An https.Server is a tls.Server that is also an http.Server in everything used below.
  const server: Server = pair
    ? (createHttpsServer({ ...timeouts, cert: pair.cert, key: pair.key }, opts.handler) as unknown as Server)
    : createHttpServer(timeouts, opts.handler);
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;

  await new Promise<void>((resolve, reject) => {
    // A bind failure names the flag and the address (EADDRINUSE: port in use, EACCES: privileged port, EADDRNOTAVAIL: not this host's address).
    const onError = (e: NodeJS.ErrnoException) => {
      const what = typeof opts.address === 'string' ? opts.address : opts.address.path;
      const why =
        e.code === 'EADDRINUSE' ? 'address already in use (EADDRINUSE)' : e.code === 'EACCES' ? 'permission denied (EACCES)' : e.code === 'EADDRNOTAVAIL' ? 'not an address of this host (EADDRNOTAVAIL)' : e.message;
      reject(new KubeSgxError('LISTEN_FAILED', `${opts.flag ?? 'listen'} ${what}: ${why}`, { path: [opts.flag ?? 'listen'], cause: e }));
    };
    server.once('error', onError);
    const listening = () => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in where) server.listen(where.path, listening);
    else server.listen(where.port, where.host, listening);
  });
  if ('path' in where && where.mode !== undefined) await chmod(where.path, where.mode);

  let url: string;
  if ('path' in where) {
    url = `unix:${where.path}`;
  } else {
    const addr = server.address() as AddressInfo;
    const wildcard = addr.address === '0.0.0.0' || addr.address === '::';
    const shownHost = wildcard ? 'localhost' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    url = `${pair ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  }
  if (tls && isCertificateFiles(tls)) {
    tls.watch((next) => (server as unknown as { setSecureContext(p: CertificatePair): void }).setSecureContext(next));
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      if (tls && isCertificateFiles(tls)) tls.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const grace = opts.graceMs ?? 0;
      if (grace <= 0) {
        server.closeAllConnections();
        return closed;
      }
      // Let in-flight requests finish; drop keep-alive connections as they go idle; cut the rest at the deadline.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const force = setTimeout(() => server.closeAllConnections(), grace);
      server.closeIdleConnections();
      await closed;
      clearInterval(sweep);
      clearTimeout(force);
    })());
  return { url, server, close };
}
