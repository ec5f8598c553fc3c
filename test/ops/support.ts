/** Test support for start-up/stop tests: a logger whose lines can be read back, a TCP port held by the test. */
import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';

/** A pino logger whose JSON lines land in `lines`. */
export function capturingLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** A port on 127.0.0.1 held open until close(): binding it again fails with EADDRINUSE. */
export async function heldPort(): Promise<{ addr: string; port: number; close: () => Promise<void> }> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return { addr: `127.0.0.1:${port}`, port, close: () => new Promise((r) => srv.close(() => r())) };
}

/** True when 127.0.0.1:`port` can be bound now, i.e. nothing listens there any more. */
export async function portIsFree(port: number): Promise<boolean> {
  const srv = createServer();
  const bound = await new Promise<boolean>((r) => {
    srv.once('error', () => r(false));
    srv.listen(port, '127.0.0.1', () => r(true));
  });
  if (bound) await new Promise<void>((r) => srv.close(() => r()));
  return bound;
}
