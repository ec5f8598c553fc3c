/**
 * Reading and discarding the rest of a request body that was refused
 * (413 and the like) before it was read in full. A server that closes a
 * socket while the client is still sending makes the kernel answer with a
 * TCP reset, and the client's kernel then drops the answer it had not read
 * yet: the client sees EPIPE or ECONNRESET instead of the 413. Reading the
 * rest lets the client finish sending and read the answer, and keeps the
 * connection usable; beyond `maxBytes` the connection is closed once the
 * answer is written. How long a client may take is the server's
 * requestTimeout.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Bytes of a refused body read and discarded before the connection is closed instead. */
export const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Starts discarding the rest of `req`'s body (call it before answering, and
 * after removing the caller's own 'data' listener). Past `maxBytes` the
 * socket is destroyed as soon as `res` has been written.
 */
export function discardRequestBody(req: IncomingMessage, res: ServerResponse, maxBytes = MAX_DRAIN_BYTES): void {
  let drained = 0;
  const onData = (chunk: Buffer): void => {
    drained += chunk.length;
    if (drained <= maxBytes) return;
    req.off('data', onData);
    if (res.writableFinished) req.socket.destroy();
    else res.once('finish', () => req.socket.destroy());
  };
  req.on('data', onData);
  req.resume();
  // On a Connection: close request Node closes the socket as soon as the answer is written (destroySoon),
  // which with the body still arriving is the reset above. Close in stages instead (RFC 9112 §9.6): end our
  // side now, and close once the body has been read to its end (or past maxBytes, or at the server's
  // requestTimeout, which holds while the body is incomplete).
  const socket = req.socket;
  let closeWanted = false;
  socket.destroySoon = () => {
    closeWanted = true;
    socket.end();
  };
  req.once('end', () => {
    Reflect.deleteProperty(socket, 'destroySoon');
    if (closeWanted) socket.destroySoon();
  });
}
