/**
 * `/healthz` (the process serves), `/readyz` (the component says it can do
 * its work), `/metrics` (Prometheus text) and `/status` (JSON the component
 * provides): answered the same way by every component, on its own port and
 * on the `--metrics-addr` ops server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  /** Why not, shown in the 503 body. */
  reason?: string;
}

export interface HealthSource {
  registry: Registry;
  ready(): boolean | Readiness;
  /** Served as /status when given; otherwise /status is not a health path. */
  status?(): unknown;
}

export interface HealthReply {
  status: number;
  contentType: string;
  body: string;
}

export const HEALTH_PATHS = ['/healthz', '/readyz', '/metrics', '/status'] as const;

const TEXT = 'text/plain; charset=utf-8';

/**
 * The reply for a health path, or undefined (at once, so a component's own
 * routes pay no extra turn) when `path` is not one, or is /status without a
 * status source.
 */
export function healthReply(path: string, source: HealthSource): Promise<HealthReply> | undefined {
  switch (path) {
    case '/healthz':
      return Promise.resolve({ status: 200, contentType: TEXT, body: 'ok\n' });
    case '/readyz': {
      const r = source.ready();
      const { ready, reason } = typeof r === 'boolean' ? { ready: r, reason: undefined } : r;
      return Promise.resolve(
        ready
          ? { status: 200, contentType: TEXT, body: 'ready\n' }
          : { status: 503, contentType: TEXT, body: `not ready${reason ? `: ${reason}` : ''}\n` },
      );
    }
    case '/metrics':
      return source.registry.metrics().then(
        (body) => ({ status: 200, contentType: source.registry.contentType, body }),
        (e: unknown) => ({ status: 500, contentType: TEXT, body: `metrics failed: ${String(e)}\n` }),
      );
    case '/status': {
      const status = source.status;
      if (!status) return undefined;
      return (async () => {
        try {
          return { status: 200, contentType: 'application/json', body: JSON.stringify(await status()) + '\n' };
        } catch (e) {
          return { status: 500, contentType: TEXT, body: `status failed: ${String(e)}\n` };
        }
      })();
    }
    default:
      return undefined;
  }
}

/** Writes a health reply on a node:http response (HEAD gets the headers only). */
export function sendHealthReply(req: IncomingMessage, res: ServerResponse, reply: HealthReply): void {
  res.writeHead(reply.status, { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.body) });
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}
