/**
 * The operations endpoint every long-running component exposes on
 * `--metrics-addr`: `/metrics` (Prometheus text), `/healthz` (the process
 * serves), `/readyz` (the component says it is ready) and `/status` (JSON the
 * component provides). Plain node:http: it must stay up when the component's
 * own server is wedged.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsServerOptions {
  /** "HOST:PORT"; port 0 picks a free port. */
  listen: string;
  registry: Registry;
  ready: () => boolean | { ready: boolean; reason?: string };
  status?: () => unknown;
}

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

export function parseHostPort(spec: string, flag = '--metrics-addr'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new Error(`${flag}: expected HOST:PORT, got ${JSON.stringify(spec)}`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const { host, port } = parseHostPort(opts.listen);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz') {
      const r = opts.ready();
      const ok = typeof r === 'boolean' ? r : r.ready;
      const reason = typeof r === 'boolean' ? '' : (r.reason ?? '');
      return send(ok ? 200 : 503, 'text/plain', ok ? 'ready\n' : `not ready${reason ? `: ${reason}` : ''}\n`);
    }
    if (path === '/status' && opts.status) {
      return send(200, 'application/json', JSON.stringify(opts.status()) + '\n');
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => send(200, opts.registry.contentType, text),
        (err: unknown) => send(500, 'text/plain', `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
