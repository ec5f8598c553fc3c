/**
 * The operations endpoint every long-running component exposes on
 * `--metrics-addr`: the health paths of ./health.ts (`/metrics`, `/healthz`,
 * `/readyz`, `/status`). Its own plain-HTTP listener: it must stay up when the
 * component's own server is wedged.
 */
import { healthReply, sendHealthReply, type HealthSource } from './health.js';
import { listen } from './listen.js';

export interface OpsServerOptions extends HealthSource {
  /** "HOST:PORT"; port 0 picks a free port. */
  listen: string;
}

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const text = (code: number, body: string) => ({ status: code, contentType: 'text/plain', body });
  const { url, close } = await listen({
    address: opts.listen,
    flag: '--metrics-addr',
    handler: (req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendHealthReply(req, res, text(405, 'method not allowed\n'));
      const reply = healthReply((req.url ?? '/').split('?')[0]!, opts);
      if (!reply) return sendHealthReply(req, res, text(404, 'not found\n'));
      void reply.then((r) => sendHealthReply(req, res, r));
    },
  });
  return { url, close };
}
