/** Shared test plumbing: temp dirs, a helper on a fake backend, raw socket exchanges. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AesmServer, type AesmServerOptions } from '../../src/quotehelper/server.js';
import { createQuoteHelperMetrics, type QuoteHelperMetrics } from '../../src/quotehelper/metrics.js';
import { FakeBackend } from './fake-backend.js';

export function tempDir(prefix = 'kube-sgx-qh-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestServer {
  server: AesmServer;
  backend: FakeBackend;
  metrics: QuoteHelperMetrics;
  socketPath: string;
  dir: string;
  close(): Promise<void>;
}

export async function startFakeServer(opts: Partial<AesmServerOptions> = {}): Promise<TestServer> {
  const { dir, cleanup } = tempDir();
  const backend = new FakeBackend();
  const metrics = createQuoteHelperMetrics();
  const socketPath = join(dir, 'aesmd', 'aesm.socket');
  const server = await AesmServer.listen({ socketPath, backend, metrics, ...opts });
  return {
    server, backend, metrics, socketPath, dir,
    async close() {
      await server.close();
      cleanup();
    },
  };
}

export interface RawOutcome {
  /** Everything the server sent before closing. */
  data: Buffer;
  /** True when the server closed the connection (vs. our timeout). */
  closedByServer: boolean;
}

/** Writes raw bytes (optionally in pieces) and collects whatever comes back until close or timeout. */
export function rawExchange(socketPath: string, parts: Buffer[], opts: { timeoutMs?: number; end?: boolean } = {}): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const sock = createConnection(socketPath);
    const chunks: Buffer[] = [];
    let finished = false;
    const done = (closedByServer: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closedByServer });
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs ?? 2000);
    sock.on('connect', () => {
      for (const p of parts) sock.write(p);
      if (opts.end) sock.end();
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => done(true));
    sock.on('close', () => done(true));
  });
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits (up to `ms`) for the descriptor count to fall to `limit`; returns the last count. */
export async function settleFdCount(limit: number, ms = 30_000): Promise<number> {
  const deadline = Date.now() + ms;
  let n = openFdCount();
  while (n > limit && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    n = openFdCount();
  }
  return n;
}
